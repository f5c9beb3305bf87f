import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A built executable of this package run as a real process, its stdout and stderr written to a file.
///
/// A file, not a pipe: a pipe whose reader falls behind (a loaded test run) blocks the child's log writes, which
/// then stalls the child itself; a file never pushes back, and holds everything the child printed.
public final class ChildProcess {
    private let process: Process
    private let outputFile: URL
    private let output: FileHandle
    /// Whether a test waited for the exit (then the status is the test's business).
    private let waited = Mutex(false)

    /// The folder holding the package's built products (next to the test bundle).
    public static var productsDirectory: URL {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        while folder.pathExtension == "xctest" || folder.lastPathComponent == "Contents" || folder.lastPathComponent == "MacOS" {
            folder.deleteLastPathComponent()
        }
        return folder
    }

    /// Starts `product` with `arguments` and `environment` (added to a minimal base), in `directory`.
    public convenience init(
        product: String,
        arguments: [String] = [],
        environment: [String: String],
        directory: URL? = nil,
        standardInput: URL? = nil
    ) throws {
        try self.init(
            executable: Self.productsDirectory.appendingPathComponent(product), arguments: arguments, environment: environment,
            directory: directory, standardInput: standardInput
        )
    }

    /// Starts a program found on PATH (`python3`, say) with `arguments`, in this process's whole environment (a
    /// version manager's shim on PATH needs more than PATH).
    public convenience init(command: String, arguments: [String] = []) throws {
        try self.init(
            executable: URL(fileURLWithPath: "/usr/bin/env"), arguments: [command] + arguments, environment: ProcessInfo.processInfo.environment
        )
    }

    /// Starts `executable` with `arguments` and `environment` (added to a minimal base: PATH), in `directory`, its
    /// output (standard output and error together) written to a file that ``text`` reads.
    public init(
        executable: URL,
        arguments: [String] = [],
        environment: [String: String],
        directory: URL? = nil,
        standardInput: URL? = nil
    ) throws {
        let product = executable.lastPathComponent
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var base = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        base.merge(environment) { _, new in new }
        process.environment = base
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = try standardInput.map { try FileHandle(forReadingFrom: $0) } ?? FileHandle.nullDevice
        let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(product)-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: outputFile.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        let output = try FileHandle(forWritingTo: outputFile)
        process.standardOutput = output
        process.standardError = output
        self.process = process
        self.outputFile = outputFile
        self.output = output
        try process.run()
    }

    /// Everything the process has printed so far.
    public var text: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// Waits until the output contains `needle` (`occurrences` times), or fails after `timeout`.
    public func waitForOutput(_ needle: String, occurrences: Int = 1, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while text.components(separatedBy: needle).count - 1 < occurrences {
            if !process.isRunning { throw ChildProcessError.exited(status: process.terminationStatus, output: text) }
            guard ContinuousClock.now < deadline else { throw ChildProcessError.timedOut(waitingFor: needle, output: text) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The port the runtime logged when it started listening.
    public func listeningPort(timeout: Duration = .seconds(30)) async throws -> Int {
        try await waitForOutput("\"port\":", timeout: timeout)
        for line in text.split(separator: "\n") where line.contains("listening on") {
            if let range = line.range(of: "\"port\":") {
                let digits = line[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return port }
            }
        }
        throw ChildProcessError.timedOut(waitingFor: "port", output: text)
    }

    /// Sends a signal.
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end and returns its exit status.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        waited.withLock { $0 = true }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw ChildProcessError.timedOut(waitingFor: "exit", output: text)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    deinit {
        // A child that ended by itself while nobody waited for it (a crash in the middle of a test) says why: the
        // test only sees its port stop answering.
        if !waited.withLock({ $0 }), !process.isRunning, process.terminationReason == .uncaughtSignal || process.terminationStatus != 0 {
            let lines = text.split(separator: "\n")
            // The trap's own message and the crashed thread's first frames, then the end of the output.
            let cause = lines.enumerated().filter { $0.element.contains("Fatal error") || $0.element.contains("Crash") || $0.element.contains("precondition") }
                .flatMap { lines[$0.offset..<min($0.offset + 12, lines.count)] }
            let tail = (cause.prefix(40) + ["…"] + lines.suffix(20)).joined(separator: "\n")
            FileHandle.standardError.write(Data("child process \(process.processIdentifier) ended with \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit")); its last output:\n\(tail)\n".utf8))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? output.close()
        try? FileManager.default.removeItem(at: outputFile)
    }
}

/// A child process did not do what a test waited for.
public enum ChildProcessError: Error, CustomStringConvertible {
    /// It exited first.
    case exited(status: Int32, output: String)
    /// It did not happen in time.
    case timedOut(waitingFor: String, output: String)

    public var description: String {
        switch self {
        case .exited(let status, let output): return "process exited with \(status); output:\n\(output)"
        case .timedOut(let what, let output): return "timed out waiting for \(what); output:\n\(output)"
        }
    }
}
