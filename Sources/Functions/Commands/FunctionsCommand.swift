import ArgumentParser
import Foundation

/// The `functions` executable: one binary for every function and its operations.
@main
struct FunctionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "Swift functions for Cloud Run: serve, run locally, migrate.",
        subcommands: [Serve.self, Local.self, Migrate.self, Render.self, Users.self, Sources.self, Endpoints.self, Consumers.self, Events.self, Deliveries.self, RotateEncryption.self, Maintain.self]
    )
}

/// Prints one line to stderr and exits non-zero: how start-up reports a bad setting.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("functions: \(message)\n".utf8))
    exit(1)
}

/// Prints a line for a person at the terminal (unbuffered, so it lands between the JSON log lines in order).
func say(_ message: String) {
    FileHandle.standardOutput.write(Data((message + "\n").utf8))
}
