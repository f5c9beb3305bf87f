import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// The `functions` executable: one binary for every function and its operations.
@main
struct FunctionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "Swift functions for Cloud Run: serve, run locally, migrate.",
        subcommands: [Serve.self, Local.self, Migrate.self, Users.self, Sources.self, Endpoints.self, Deliveries.self]
    )

    /// Runs Swift concurrency's jobs on SwiftNIO's event loops, so a handler that awaits PostgreSQL or an HTTP
    /// client resumes on the loop that did the I/O instead of hopping to another pool's thread. Installed first
    /// thing, from the main thread, before any other task starts.
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
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
