import Foundation
import Testing
import TestSupport

@Suite("Graceful shutdown on SIGTERM (real process)", .machineShare, .serialized)
struct ShutdownTests {
    @Test("in-flight requests finish after SIGTERM, new connections are refused, exit status is 0")
    func drainsInFlight() async throws {
        let process = try ChildProcess(product: "conformance", environment: ["FUNCTION_TARGET": "delay", "PORT": "0", "HOST": "127.0.0.1"])
        let port = try await process.listeningPort()
        try await withThrowingTaskGroup(of: HTTPTestClient.Response.self) { group in
            for _ in 0..<5 {
                group.addTask { try await HTTPTestClient.send(port: port, path: "/?ms=3000") }
            }
            // Signalled once all five are in the handler (a request still in the listen queue or not yet read is not
            // in flight: the server rightly closes such a connection when it stops).
            try await process.waitForOutput("delay: sleeping", occurrences: 5)
            let signalled = ContinuousClock.now
            process.signal(SIGTERM)
            // New connections are refused while the five are still sleeping.
            var refused = false
            while !refused && ContinuousClock.now - signalled < .seconds(2) {
                do {
                    _ = try await HTTPTestClient.send(port: port, path: "/health")
                    try await Task.sleep(for: .milliseconds(50))
                } catch {
                    refused = true
                }
            }
            #expect(refused, "a new connection was still served 2 s after SIGTERM")
            var statuses: [Int] = []
            for try await response in group { statuses.append(response.status) }
            #expect(statuses == [200, 200, 200, 200, 200])
        }
        #expect(try await process.waitForExit() == 0)
    }

    @Test("a request longer than the grace period is cut off and the process still exits promptly")
    func graceBound() async throws {
        let process = try ChildProcess(
            product: "conformance",
            environment: ["FUNCTION_TARGET": "delay", "PORT": "0", "HOST": "127.0.0.1", "SHUTDOWN_GRACE_SECONDS": "1"]
        )
        let port = try await process.listeningPort()
        async let slow = try? HTTPTestClient.send(port: port, path: "/?ms=20000")
        try await process.waitForOutput("delay: sleeping")
        let signalled = ContinuousClock.now
        process.signal(SIGTERM)
        _ = try await process.waitForExit(timeout: .seconds(10))
        #expect(ContinuousClock.now - signalled < .seconds(5))
        _ = await slow
    }
}
