import Foundation

/// Runs `python3 -c` (the python3 on PATH; its `cryptography` and `prometheus_client` are test requirements, which
/// `.ci/run` installs): exit status and stdout with stderr.
public enum Python {
    public static func run(_ script: String, arguments: [String] = [], input: String) async throws -> (status: Int32, output: String) {
        try await offCooperativePool { try runBlocking(script, arguments: arguments, input: input) }
    }

    private static func runBlocking(_ script: String, arguments: [String], input: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
