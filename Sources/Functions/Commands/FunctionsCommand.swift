import ArgumentParser
import Foundation

/// The `functions` executable: one binary for every function and its operations.
@main
struct FunctionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "Swift functions for Cloud Run: serve, run locally, migrate.",
        subcommands: [Serve.self, Local.self, Migrate.self, Render.self, Users.self, Sources.self, Endpoints.self, Consumers.self, Events.self, Deliveries.self, RotateEncryption.self, Maintain.self, Invoke.self]
    )

    /// Runs the command, then stops the local cluster if an admin command started it (``LocalClusterUse``).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            LocalClusterUse.finish()
            exit(withError: error)
        }
        LocalClusterUse.finish()
    }
}

/// Prints one line to stderr and exits non-zero: how start-up reports a bad setting.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("functions: \(message)\n".utf8))
    LocalClusterUse.finish()
    exit(1)
}

/// Prints a line for a person at the terminal (unbuffered, so it lands between the JSON log lines in order).
func say(_ message: String) {
    FileHandle.standardOutput.write(Data((message + "\n").utf8))
}
