import Foundation
import Logging
import ServiceLifecycle
import Testing
import TestSupport

@testable import Runtime

@Suite("The HTTP server over a real socket", .machineShare)
struct ServerTests {
    struct Echo: HTTPFunction {
        let name = "echo"
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
            FunctionResponse(status: .ok, headers: [.contentType: "application/octet-stream", .eTag: "\"x\""], body: request.body)
        }
    }

    /// Answers the client address the runtime resolved.
    struct WhoAmI: HTTPFunction {
        let name = "whoami"
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
            .text(request.clientAddress ?? "-")
        }
    }

    /// Two routes with their own body limits, and one with the table's.
    struct Limited: RoutedFunction {
        let name = "limited"
        let routes = Routes(
            [
                .post("/small", maxBodyBytes: 100) { request, _ in .text("\(request.body.count)") },
                .post("/table") { request, _ in .text("\(request.body.count)") },
                .post("/runtime", maxBodyBytes: 1_000_000) { request, _ in .text("\(request.body.count)") },
            ],
            maxBodyBytes: 2000
        )
    }

    /// Runs the server on an ephemeral port for the duration of `body`.
    func withServer(
        maxBodyBytes: Int = 1024, functions: [any HTTPFunction] = [Echo()], target: String? = "echo", trustedProxyHops: Int = 1,
        _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        let invoker = FunctionInvoker(registry: try FunctionRegistry(functions: functions, target: target), logger: Logger(label: "t"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "server")
        logger.logLevel = .critical
        let server = FunctionServer.make(
            invoker: invoker, host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes, trustedProxyHops: trustedProxyHops, logger: logger,
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

    @Test("each route's own body limit applies before the body is read, within the runtime's; a path no route takes reads 16 KiB at most")
    func routeBodyLimits() async throws {
        try await withServer(maxBodyBytes: 4096, functions: [Limited()], target: nil) { port in
            func post(_ path: String, _ count: Int, chunked: Bool = false) async throws -> HTTPTestClient.Response {
                try await HTTPTestClient.send(port: port, method: "POST", path: path, body: Data(repeating: 0x61, count: count), chunked: chunked)
            }
            let fits = try await post("/limited/small", 100)
            #expect(fits.text == "100")
            let over = try await post("/limited/small", 101)
            #expect(over.status == 413 && over.text.contains("larger than 100 bytes"))
            let overChunked = try await post("/limited/small", 101, chunked: true)
            #expect(overChunked.status == 413)
            let table = try await post("/limited/table", 2000)
            #expect(table.text == "2000")
            let overTable = try await post("/limited/table", 2001, chunked: true)
            #expect(overTable.status == 413)
            // A route may not lift the runtime's limit.
            let runtime = try await post("/limited/runtime", 4096)
            #expect(runtime.text == "4096")
            let overRuntime = try await post("/limited/runtime", 4097)
            #expect(overRuntime.status == 413)
            let elsewhere = try await post("/limited/elsewhere", 10)
            #expect(elsewhere.status == 404)
        }
    }

    @Test("TRUSTED_PROXY_HOPS: 0 takes the peer, 1 the rightmost X-Forwarded-For entry, 2 the second from the right; a forged or garbage entry never counts")
    func clientAddress() async throws {
        func address(hops: Int, forwardedFor: [String]) async throws -> String {
            let answer = Locked("")
            try await withServer(functions: [WhoAmI()], target: "whoami", trustedProxyHops: hops) { port in
                let headers = forwardedFor.map { ("X-Forwarded-For", $0) }
                let text = try await HTTPTestClient.send(port: port, method: "GET", path: "/", headers: headers).text
                answer.withLock { $0 = text }
            }
            return answer.withLock { $0 }
        }
        // Nothing in front: whatever the client writes, the peer.
        #expect(try await address(hops: 0, forwardedFor: ["203.0.113.9"]) == "127.0.0.1")
        // Cloud Run direct: its front end appends the client; what the client wrote is to the left.
        #expect(try await address(hops: 1, forwardedFor: ["6.6.6.6, 203.0.113.9"]) == "203.0.113.9")
        #expect(try await address(hops: 1, forwardedFor: []) == "127.0.0.1")
        // An external HTTPS load balancer appends "<client>,<balancer>".
        #expect(try await address(hops: 2, forwardedFor: ["6.6.6.6, 203.0.113.9, 34.1.2.3"]) == "203.0.113.9")
        // Two header lines are one list.
        #expect(try await address(hops: 2, forwardedFor: ["6.6.6.6", "203.0.113.9,34.1.2.3"]) == "203.0.113.9")
        // Around the balancer (one entry): the leftmost.
        #expect(try await address(hops: 2, forwardedFor: ["203.0.113.9"]) == "203.0.113.9")
        // Not an address: the peer. IPv6 in canonical form, so spellings of one address are one client.
        #expect(try await address(hops: 1, forwardedFor: ["unknown"]) == "127.0.0.1")
        #expect(try await address(hops: 1, forwardedFor: ["1.2.3.4:8080"]) == "127.0.0.1")
        #expect(try await address(hops: 1, forwardedFor: ["2001:DB8:0:0::0001"]) == "2001:db8::1")
    }
}
