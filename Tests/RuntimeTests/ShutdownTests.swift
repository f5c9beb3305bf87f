import Foundation
import Testing
import TestSupport

@Suite("Graceful shutdown on SIGTERM (real process)", .machineShare, .serialized)
struct ShutdownTests {
    @Test("in-flight requests finish after SIGTERM, new connections are refused, exit status is 0")
    func drainsInFlight() async throws {
        let process = try ChildProcess(product: "conformance", environment: ["FUNCTION_TARGET": "delay", "PORT": "0", "HOST": "127.0.0.1"])
        let port = try await process.listeningPort()
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: HTTPTestClient.Response.self) { group in
            for _ in 0..<5 {
                group.addTask { try await HTTPTestClient.send(port: port, path: "/?ms=1500") }
            }
            try await Task.sleep(for: .milliseconds(400))
            process.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            await #expect(throws: (any Error).self) { try await HTTPTestClient.send(port: port, path: "/health") }
            var statuses: [Int] = []
            for try await response in group { statuses.append(response.status) }
            #expect(statuses == [200, 200, 200, 200, 200])
        }
        #expect(try await process.waitForExit() == 0)
        #expect(ContinuousClock.now - started >= .milliseconds(1500))
    }

    @Test("a request longer than the grace period is cut off and the process still exits promptly")
    func graceBound() async throws {
        let process = try ChildProcess(
            product: "conformance",
            environment: ["FUNCTION_TARGET": "delay", "PORT": "0", "HOST": "127.0.0.1", "SHUTDOWN_GRACE_SECONDS": "1"]
        )
        let port = try await process.listeningPort()
        async let slow = try? HTTPTestClient.send(port: port, path: "/?ms=20000")
        try await Task.sleep(for: .milliseconds(300))
        let signalled = ContinuousClock.now
        process.signal(SIGTERM)
        _ = try await process.waitForExit(timeout: .seconds(10))
        #expect(ContinuousClock.now - signalled < .seconds(5))
        _ = await slow
    }
}
