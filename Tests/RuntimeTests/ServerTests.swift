import Foundation
import Logging
import ServiceLifecycle
import Testing
import TestSupport

@testable import Runtime

@Suite("The HTTP server over a real socket")
struct ServerTests {
    struct Echo: HTTPFunction {
        let name = "echo"
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
            FunctionResponse(status: .ok, headers: [.contentType: "application/octet-stream", .eTag: "\"x\""], body: request.body)
        }
    }

    /// Runs the server on an ephemeral port for the duration of `body`.
    func withServer(maxBodyBytes: Int = 1024, _ body: @Sendable (Int) async throws -> Void) async throws {
        let invoker = FunctionInvoker(registry: try FunctionRegistry(functions: [Echo()], target: "echo"), logger: Logger(label: "t"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "server")
        logger.logLevel = .critical
        let server = FunctionServer.make(
            invoker: invoker, host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes, logger: logger,
            onListening: { continuation.yield($0) }
        )
        let group = ServiceGroup(services: [server], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("bodies pass through; the request id is echoed; no ETag leaves the server")
    func roundTrip() async throws {
        try await withServer { port in
            let payload = Data((0..<1000).map { UInt8($0 % 251) })
            let response = try await HTTPTestClient.send(port: port, method: "POST", path: "/", headers: [("X-Request-ID", "abc")], body: payload)
            #expect(response.status == 200)
            #expect(response.body == payload)
            #expect(response.headers["x-request-id"] == "abc")
            #expect(response.headers["etag"] == nil)
        }
    }

    @Test("a body over the limit is a 413, by Content-Length and when chunked")
    func bodyLimit() async throws {
        try await withServer(maxBodyBytes: 1024) { port in
            let big = Data(repeating: 0x61, count: 4096)
            let declared = try await HTTPTestClient.send(port: port, method: "POST", path: "/", body: big)
            #expect(declared.status == 413)
            #expect(declared.text.contains("\"code\":\"payload_too_large\""))
            let chunked = try await HTTPTestClient.send(port: port, method: "POST", path: "/", body: big, chunked: true)
            #expect(chunked.status == 413)
            let fits = try await HTTPTestClient.send(port: port, method: "POST", path: "/", body: Data(repeating: 0x61, count: 1024))
            #expect(fits.status == 200)
        }
    }
}
