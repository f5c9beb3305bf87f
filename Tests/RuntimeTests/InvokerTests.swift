import Foundation
import HTTPTypes
import Logging
import Primitives
import Testing

@testable import Runtime

@Suite("FunctionInvoker: routing, runtime routes, request ids, error mapping")
struct InvokerTests {
    struct Echo: HTTPFunction {
        let name: String
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
            .text("\(name) \(request.method.rawValue) \(request.path) \(context.requestID) \(context.trace?.traceID ?? "-")")
        }
    }

    struct Failing: HTTPFunction {
        let name = "failing"
        let error: any Error & Sendable
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse { throw error }
    }

    struct DomainError: Error {}
    struct SecretLeak: Error, CustomStringConvertible { var description: String { "user jane@example.com ssn 123-45-6789" } }

    func invoker(target: String?, logs: LogOutput = .capturing(), readiness: @escaping FunctionInvoker.ReadinessCheck = { _ in true })
        throws -> FunctionInvoker
    {
        let functions: [any HTTPFunction] = [
            Echo(name: "alpha"), Echo(name: "beta"),
            Failing(error: DomainError()),
        ]
        let logger = Logger(label: "t") { CloudLogHandler(label: $0, level: .debug, settings: .init(), output: logs) }
        return FunctionInvoker(
            registry: try FunctionRegistry(functions: functions, target: target),
            logger: logger,
            readiness: readiness,
            errorMapper: { $0 is DomainError ? HTTPError(.conflict, code: "domain", detail: "Mapped.") : nil }
        )
    }

    @Test("unset FUNCTION_TARGET serves every function under /<name>, sub-routes included")
    func servesAllUnderName() async throws {
        let invoker = try invoker(target: nil)
        let alpha = await invoker.invoke(.init(method: .post, path: "/alpha/sub/path"))
        #expect(String(decoding: alpha.body, as: UTF8.self).hasPrefix("alpha POST /sub/path "))
        let beta = await invoker.invoke(.init(method: .get, path: "/beta"))
        #expect(String(decoding: beta.body, as: UTF8.self).hasPrefix("beta GET / "))
        let missing = await invoker.invoke(.init(method: .get, path: "/gamma"))
        #expect(missing.status == .notFound)
        #expect(String(decoding: missing.body, as: UTF8.self) == #"{"detail":"No function at this path.","code":"not_found"}"#)
    }

    @Test("FUNCTION_TARGET serves that function at / and its sub-routes")
    func servesTargetAtRoot() async throws {
        let invoker = try invoker(target: "beta")
        let root = await invoker.invoke(.init(method: .post, path: "/"))
        #expect(String(decoding: root.body, as: UTF8.self).hasPrefix("beta POST / "))
        let sub = await invoker.invoke(.init(method: .post, path: "/revoke"))
        #expect(String(decoding: sub.body, as: UTF8.self).hasPrefix("beta POST /revoke "))
    }

    @Test("an unknown FUNCTION_TARGET is one line naming the known functions")
    func unknownTarget() throws {
        let error = #expect(throws: UnknownFunctionError.self) { try self.invoker(target: "nope") }
        #expect(error?.description == #"Unknown FUNCTION_TARGET "nope"; known functions: alpha, beta, failing"#)
        #expect(error?.description.contains("\n") == false)
    }

    @Test("/health answers without I/O, /ready asks the readiness check, robots and favicon are 404, no ETag")
    func runtimeRoutes() async throws {
        let health = await try invoker(target: "alpha", readiness: { _ in Issue.record("health must not check readiness"); return false })
            .invoke(.init(method: .get, path: "/health"))
        #expect(health.status == .ok)
        #expect(String(decoding: health.body, as: UTF8.self) == #"{"status":"ok"}"#)
        let ready = await try invoker(target: nil, readiness: { _ in true }).invoke(.init(method: .get, path: "/ready"))
        #expect(ready.status == .ok)
        let notReady = await try invoker(target: nil, readiness: { _ in false }).invoke(.init(method: .get, path: "/ready"))
        #expect(notReady.status == .serviceUnavailable)
        #expect(notReady.headers[.retryAfter] == "5")
        for path in ["/robots.txt", "/favicon.ico"] {
            let response = await try invoker(target: "alpha").invoke(.init(method: .get, path: path))
            #expect(response.status == .notFound)
            #expect(response.headers[.eTag] == nil)
        }
    }

    @Test("a well-formed X-Request-ID is kept and echoed; a hostile one is replaced")
    func requestID() async throws {
        let invoker = try invoker(target: "alpha")
        let kept = await invoker.invoke(.init(method: .get, path: "/", headers: [RequestID.headerName: "req-42.a_b:c"]))
        #expect(kept.headers[RequestID.headerName] == "req-42.a_b:c")
        #expect(String(decoding: kept.body, as: UTF8.self).contains(" req-42.a_b:c "))
        for hostile in ["a b", "x\"y", String(repeating: "a", count: 129), "<script>", ""] {
            let replaced = await invoker.invoke(.init(method: .get, path: "/", headers: [RequestID.headerName: hostile]))
            let id = try #require(replaced.headers[RequestID.headerName])
            #expect(id != hostile)
            #expect(id.count == 32 && RequestID.isWellFormed(id))
        }
    }

    @Test("SamplingRandom: no value repeats, every one of 32 shards is drawn about equally, from many tasks at once")
    func samplingRandom() async {
        let draws = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var random = SamplingRandom()
                    return (0..<25_000).map { _ in random.next() }
                }
            }
            return await group.reduce(into: [UInt64]()) { $0 += $1 }
        }
        #expect(Set(draws).count == draws.count)
        var counts = [Int](repeating: 0, count: 32)
        for value in draws { counts[Int(value % 32)] += 1 }
        // 100,000 draws over 32 shards: 3,125 each on average; a fair source stays well within ±15 %.
        #expect(counts.allSatisfy { (2_650...3_600).contains($0) })
    }

    @Test("SecureRandom: across block refills and from many tasks at once no 16 bytes repeat, and bytes are evenly spread")
    func secureRandom() async {
        // 4 tasks × 2,000 draws × 16 bytes = 128 KiB: 32 refills of the 4 KiB block, taken concurrently.
        let draws = await withTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<4 { group.addTask { (0..<2_000).map { _ in SecureRandom.bytes(16) } } }
            return await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        #expect(Set(draws).count == draws.count)
        #expect(draws.allSatisfy { $0.count == 16 })
        // Odd sizes straddle the block's end; a large request goes straight to the kernel.
        let odd = (0..<1_000).map { SecureRandom.bytes($0 % 37 + 1) }
        #expect(odd.map(\.count) == (0..<1_000).map { $0 % 37 + 1 })
        let large = SecureRandom.bytes(10_000)
        #expect(large.count == 10_000)
        var counts = [Int](repeating: 0, count: 256)
        for byte in draws.joined() { counts[Int(byte)] += 1 }
        for byte in large { counts[Int(byte)] += 1 }
        // 138,000 bytes over 256 values: about 539 each (σ ≈ 23); ±25 % is almost six σ, which a fair source never leaves.
        #expect(counts.allSatisfy { (404...674).contains($0) }, "\(counts.min()!)...\(counts.max()!)")
        // Not all zero, as a block handed out after zeroing would be.
        #expect(large.contains { $0 != 0 } && odd.joined().contains { $0 != 0 })
    }

    @Test("new request ids: 32 lowercase hex digits, none repeated, not a visible count")
    func newRequestIDs() {
        let ids = (0..<20_000).map { _ in RequestID.make() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
        // One process prefix; the rest differs in about half its bits from one id to the next, as random ids do.
        #expect(Set(ids.map { $0.prefix(16) }).count == 1)
        let flipped = zip(ids, ids.dropFirst()).map { a, b in
            (UInt64(a.suffix(16), radix: 16)! ^ UInt64(b.suffix(16), radix: 16)!).nonzeroBitCount
        }
        let mean = Double(flipped.reduce(0, +)) / Double(flipped.count)
        #expect((28.0...36.0).contains(mean))
    }

    @Test("trace context from traceparent, else X-Cloud-Trace-Context, reaches the handler and the log lines")
    func traceReachesContextAndLogs() async throws {
        let logs = LogOutput.capturing()
        let invoker = try invoker(target: nil, logs: logs)
        let response = await invoker.invoke(
            .init(method: .get, path: "/failing", headers: [HTTPField.Name("X-Cloud-Trace-Context")!: "105445aa7843bc8bf206b12000100000/1;o=1"])
        )
        #expect(response.status == .conflict)
        let line = try #require(logs.lines.first { $0.contains("request rejected") })
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(object["logging.googleapis.com/trace"] as? String == "105445aa7843bc8bf206b12000100000")
        #expect(object["logging.googleapis.com/spanId"] as? String == "0000000000000001")
        #expect(object["request_id"] as? String == response.headers[RequestID.headerName])
        let echoed = await invoker.invoke(
            .init(method: .get, path: "/alpha", headers: [HTTPField.Name("traceparent")!: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
        )
        #expect(String(decoding: echoed.body, as: UTF8.self).hasSuffix(" 0af7651916cd43dd8448eb211c80319c"))
    }

    @Test("errors are mapped in one place: HTTPError, convertible, the app's mapper, else a generic 500")
    func errorMapping() async throws {
        let logs = LogOutput.capturing()
        let logger = Logger(label: "t") { CloudLogHandler(label: $0, level: .info, settings: .init(), output: logs) }
        let cases: [(any Error & Sendable, Int, String)] = [
            (HTTPError(.tooManyRequests, code: "throttled", detail: "Slow down."), 429, #"{"detail":"Slow down.","code":"throttled"}"#),
            (CloudEventError.missingAttribute("id"), 400, #"{"detail":"CloudEvent is missing the required attribute 'id'.","code":"malformed_cloudevent"}"#),
            (DomainError(), 409, #"{"detail":"Mapped.","code":"domain"}"#),
            (SecretLeak(), 500, #"{"detail":"Internal server error.","code":"internal_error"}"#),
        ]
        for (error, status, body) in cases {
            let invoker = FunctionInvoker(
                registry: try FunctionRegistry(functions: [Failing(error: error)], target: "failing"),
                logger: logger,
                errorMapper: { $0 is DomainError ? HTTPError(.conflict, code: "domain", detail: "Mapped.") : nil }
            )
            let response = await invoker.invoke(.init(method: .post, path: "/"))
            #expect(Int(response.status.code) == status)
            #expect(String(decoding: response.body, as: UTF8.self) == body)
            #expect(response.headers[.contentType] == "application/json")
        }
        // The 500's detail goes to the log, scrubbed: the PHI in the error text never appears.
        let line = try #require(logs.lines.first { $0.contains("unhandled error") })
        #expect(line.contains("\"severity\":\"ERROR\""))
        #expect(line.contains("[EMAIL]") && line.contains("[SSN]"))
        #expect(!line.contains("jane@example.com") && !line.contains("123-45-6789"))
    }

    @Test("the JSON adapter decodes input, rejects other methods and bad JSON with 405/400")
    func jsonAdapter() async throws {
        struct Add: JSONFunction {
            struct Input: Decodable, Sendable { let a: Int; let b: Int }
            struct Output: Encodable, Sendable { let sum: Int }
            let name = "add"
            func handle(_ input: Input, context: FunctionContext) async throws -> Output { Output(sum: input.a + input.b) }
        }
        let invoker = try Invokers.single(Add())
        let ok = await invoker.invoke(.init(method: .post, path: "/", body: Data(#"{"a":2,"b":3}"#.utf8)))
        #expect(String(decoding: ok.body, as: UTF8.self) == #"{"sum":5}"#)
        let wrongMethod = await invoker.invoke(.init(method: .get, path: "/"))
        #expect(wrongMethod.status == .methodNotAllowed)
        #expect(wrongMethod.headers[.allow] == "POST")
        for bad in ["", "{", #"{"a":"x","b":1}"#, "[1]", #"{"a":1e400,"b":1}"#] {
            let response = await invoker.invoke(.init(method: .post, path: "/", body: Data(bad.utf8)))
            #expect(response.status == .badRequest, "\(bad)")
        }
    }
}
