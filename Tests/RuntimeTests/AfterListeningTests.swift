import Foundation
import Logging
import Runtime
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

@Suite("Services that start once the port is open", .machineShare)
struct AfterListeningTests {
    struct Hello: HTTPFunction {
        let name = "hello"
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
            .jsonBody(Data("{}".utf8))
        }
    }

    /// Records, when it starts, whether the server already answers on its port; then runs until shut down.
    final class Probe: Service, Sendable {
        let port = Mutex<Int?>(nil)
        let answeredAtStart = Mutex<Bool?>(nil)

        func run() async throws {
            let port = self.port.withLock { $0 }
            let answered: Bool
            if let port, let response = try? await HTTPTestClient.send(port: port, path: "/health") {
                answered = response.status == 200
            } else {
                answered = false
            }
            answeredAtStart.withLock { $0 = answered }
            try? await gracefulShutdown()
        }
    }

    @Test("an afterListening service starts after the port answers, and the group still stops cleanly")
    func startsAfterListening() async throws {
        let runtime = try FunctionsRuntime(
            configuration: try RuntimeConfiguration(environment: ["PORT": "0", "HOST": "127.0.0.1", "FUNCTION_TARGET": "hello"]),
            functions: [Hello()],
            logger: Logger(label: "test")
        )
        let probe = Probe()
        let serving = Task {
            try await runtime.run(afterListening: [probe], onListening: { port in probe.port.withLock { $0 = port } })
        }
        try await waitUntil(timeout: .seconds(10), every: .milliseconds(10)) { probe.answeredAtStart.withLock { $0 } != nil }
        #expect(probe.answeredAtStart.withLock { $0 } == true)
        serving.cancel()
        _ = await serving.result
    }

    @Test("when the server cannot start, an afterListening service never runs and run() returns")
    func neverRunsWithoutListening() async throws {
        let taken = try ListeningSocket()  // holds a port so the server's bind fails
        defer { taken.close() }
        let runtime = try FunctionsRuntime(
            configuration: try RuntimeConfiguration(environment: ["PORT": String(taken.port), "HOST": "127.0.0.1", "FUNCTION_TARGET": "hello"]),
            functions: [Hello()],
            logger: Logger(label: "test")
        )
        let probe = Probe()
        await #expect(throws: (any Error).self) { try await runtime.run(afterListening: [probe]) }
        #expect(probe.answeredAtStart.withLock { $0 } == nil)
    }
}

/// A socket listening on 127.0.0.1 at a port of the kernel's choosing, to make another bind to it fail.
private struct ListeningSocket {
    let descriptor: Int32
    let port: Int

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let fd = descriptor
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(descriptor) }
}
