import Domain
import Foundation
import Runtime
import Store
import Synchronization
import Testing
import TestSupport

@testable import Functions

@Suite("webhook-dispatch: publish, drain, retries, attempt records, SSRF (real HTTP sink)", .machineShare)
struct WebhookDispatchTests {
    func withHarness(settings: WebhookSettings = .testing, _ body: @escaping @Sendable (WebhookHarness) async throws -> Void) async throws {
        try await WebhookHarness.withOwnDatabase("webhook-dispatch", settings: settings, body)
    }

    @Test("publish fans out to subscribed endpoints in one statement; the same idempotency key returns the first answer")
    func publishFanOut() async throws {
        try await withHarness { harness in
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/a", types: ["user.*"])
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/b", types: ["user.created"])
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/c", types: ["order.paid"])
            let first = await harness.publish(#"{"type":"user.created","data":{"id":1},"idempotency_key":"k-1"}"#)
            #expect(first.status == .accepted)
            #expect(first.json["deliveries"] as? Int == 2)
            let again = await harness.publish(#"{"type":"user.created","data":{"id":2},"idempotency_key":"k-1"}"#)
            #expect(again.text == first.text)
            #expect(await harness.publish(#"{"type":"user.deleted","data":null}"#).json["deliveries"] as? Int == 1)
            for bad in [#"{"data":{}}"#, #"{"type":"user.created"}"#, #"{"type":"bad type","data":1}"#, "nope", #"{"type":5,"data":1}"#] {
                #expect(await harness.publish(bad).status == .badRequest, "\(bad)")
            }
        }
    }

    @Test("one key published eight times at once: one message, its deliveries and counters once, every answer the first's; consumers and disabled endpoints get nothing")
    func concurrentSameKey() async throws {
        try await withHarness { harness in
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/all", types: ["*"])
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/prefix", types: ["lab.*"])
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/other", types: ["labx.*", "lab"])
            let (disabled, _) = try await harness.addEndpoint(url: "http://127.0.0.1:9/off", types: ["*"])
            let (source, _) = try await harness.addSource()
            _ = try await harness.addConsumer(source: source, url: "http://127.0.0.1:9/consumer")
            let logger = harness.logger
            try await harness.database.withConnection { connection in
                try await connection.query("UPDATE webhook_endpoints SET enabled = false WHERE id = \(disabled)", logger: logger)
            }
            let answers = await withTaskGroup(of: String.self) { group in
                for index in 0..<8 {
                    group.addTask { await harness.publish(#"{"type":"lab.result","data":\#(index),"idempotency_key":"same"}"#).text }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(answers).count == 1, "\(answers)")
            #expect(answers.first?.contains(#""deliveries":2"#) == true, "\(answers)")
            let (messages, deliveries, counted) = try await harness.database.withConnection { connection in
                var counts = (0, 0, [String: Int64]())
                for try await value in try await connection.query("SELECT count(*)::int FROM webhook_messages", logger: logger).decode(Int.self) {
                    counts.0 = value
                }
                for try await value in try await connection.query("SELECT count(*)::int FROM webhook_deliveries", logger: logger).decode(Int.self) {
                    counts.1 = value
                }
                for sample in try await Counters.all(on: connection, logger: logger) { counts.2[sample.name] = sample.value }
                return counts
            }
            #expect(messages == 1 && deliveries == 2)
            #expect(counted["webhook_messages_total"] == 1 && counted["webhook_deliveries_created_total"] == 2, "\(counted)")
        }
    }

    @Test("a CloudEvent and a Pub/Sub push publish too, idempotent on their ids")
    func publishEvents() async throws {
        try await withHarness { harness in
            _ = try await harness.addEndpoint(url: "http://127.0.0.1:9/a", types: ["*"])
            let headers: HTTPFields = [
                HTTPField.Name("ce-specversion")!: "1.0", HTTPField.Name("ce-id")!: "ev-1", HTTPField.Name("ce-source")!: "//test",
                HTTPField.Name("ce-type")!: "lab.result", .contentType: "application/json",
            ]
            let event = await harness.publish(#"{"value":42}"#, headers: headers)
            #expect(event.status == .accepted)
            #expect(await harness.publish(#"{"value":42}"#, headers: headers).text == event.text)
            let data = Data(#"{"type":"lab.ordered","data":{"k":"v"}}"#.utf8).base64EncodedString()
            let push = await harness.publish(#"{"message":{"data":"\#(data)","messageId":"m-1"},"subscription":"projects/p/subscriptions/s"}"#)
            #expect(push.status == .accepted)
            #expect(push.json["deliveries"] as? Int == 1)
        }
    }

    @Test("each request carries the payload, webhook-id stable across retries, v1 signatures and X-Signature; retried until success")
    func deliverWithRetries() async throws {
        try await withHarness { harness in
            let sink = WebhookSink { index, _ in index < 2 ? .init(status: 503, body: "try later") : .init(status: 200) }
            try await sink.run { base in
                let (endpoint, secret) = try await harness.addEndpoint(url: base + "/hook", types: ["user.*"])
                let published = await harness.publish(#"{"type":"user.created","data":{"id":7,"note":null}}"#, headers: [.contentType: "application/json", RequestID.headerName: "req-abc"])
                #expect(published.status == .accepted)
                let firstReport = try await harness.drain()
                let firstAttempts = try await harness.attempts(endpoint: endpoint)
                #expect(firstReport.retrying == 1, "\(firstReport) \(firstAttempts)")
                #expect(try await harness.delivery(endpoint: endpoint).next == harness.clock.now.addingTimeInterval(5))
                #expect(try await harness.drain().claimed == 0)  // not due yet
                harness.clock.advance(seconds: 5)
                #expect(try await harness.drain().retrying == 1)
                harness.clock.advance(seconds: 300)
                #expect(try await harness.drain().succeeded == 1)
                let requests = sink.requests
                #expect(requests.count == 3)
                #expect(Set(requests.map { $0.headers["webhook-id"] ?? "" }).count == 1)
                for request in requests {
                    try WebhookSignature.verifyStandard(
                        id: request.headers["webhook-id"], timestamp: request.headers["webhook-timestamp"],
                        signatures: request.headers["webhook-signature"], body: request.body, secrets: [secret], now: Date(timeIntervalSince1970: Double(request.headers["webhook-timestamp"] ?? "0") ?? 0)
                    )
                    try WebhookSignature.verifyHex(request.headers["x-signature"], body: request.body, secrets: [secret])
                }
                let payload = try #require(try JSONSerialization.jsonObject(with: requests[0].body) as? [String: Any])
                #expect(payload["type"] as? String == "user.created")
                #expect((payload["data"] as? [String: Any])?["id"] as? Int == 7)
                #expect((payload["metadata"] as? [String: Any])?["request_id"] as? String == "req-abc")
                #expect(payload["timestamp"] is String)
                #expect(String(decoding: requests[0].body, as: UTF8.self).contains(#""note":null"#))
                let attempts = try await harness.attempts(endpoint: endpoint)
                #expect(attempts.map(\.0) == [1, 2, 3])
                #expect(attempts.map(\.1) == [503, 503, 200])
                #expect(try await harness.delivery(endpoint: endpoint).status == "succeeded")
            }
        }
    }

    @Test("3xx is a failure and never followed; 410 disables the endpoint; 429 Retry-After is honoured")
    func statusHandling() async throws {
        try await withHarness { harness in
            let sink = WebhookSink { _, request in
                switch request.path {
                case "/redirect": return .init(status: 302, headers: ["Location": "/elsewhere"])
                case "/gone": return .init(status: 410)
                case "/slow-down": return .init(status: 429, headers: ["Retry-After": "120"])
                default: return .init(status: 200)
                }
            }
            try await sink.run { base in
                let (redirect, _) = try await harness.addEndpoint(url: base + "/redirect", types: ["a.b"])
                let (gone, _) = try await harness.addEndpoint(url: base + "/gone", types: ["a.b"])
                let (slow, _) = try await harness.addEndpoint(url: base + "/slow-down", types: ["a.b"])
                #expect(await harness.publish(#"{"type":"a.b","data":{}}"#).json["deliveries"] as? Int == 3)
                _ = try await harness.drain()
                #expect(!sink.requests.contains { $0.path == "/elsewhere" })
                #expect(try await harness.attempts(endpoint: redirect).first?.2 == "http_status")
                #expect(try await harness.delivery(endpoint: redirect).status == "pending")
                let goneEndpoint = try #require(try await harness.endpoint(gone))
                #expect(!goneEndpoint.enabled && goneEndpoint.disabledReason?.contains("410") == true)
                #expect(try await harness.delivery(endpoint: gone).status == "failed")
                #expect(try await harness.delivery(endpoint: slow).next == harness.clock.now.addingTimeInterval(120))
            }
        }
    }

    @Test("results are recorded in batches: several 410s in one drain disable the endpoint once; streaks count every failure")
    func batchedResults() async throws {
        try await withHarness { harness in
            let sink = WebhookSink { _, request in request.path == "/gone" ? .init(status: 410) : .init(status: 500) }
            try await sink.run { base in
                let (gone, _) = try await harness.addEndpoint(url: base + "/gone", types: ["g.g"])
                let (failing, _) = try await harness.addEndpoint(url: base + "/fail", types: ["g.g"])
                for index in 0..<5 { _ = await harness.publish(#"{"type":"g.g","data":\#(index)}"#) }
                let report = try await harness.drain()
                #expect(report.endpointsDisabled == 1)
                #expect(try await harness.attempts(endpoint: gone).count == 5)
                let goneEndpoint = try #require(try await harness.endpoint(gone))
                #expect(!goneEndpoint.enabled && goneEndpoint.disabledReason?.contains("410") == true)
                let failingEndpoint = try #require(try await harness.endpoint(failing))
                #expect(failingEndpoint.enabled && failingEndpoint.failureStreak == 5)
                let (disabledCount, audited) = try await harness.database.withConnection { connection in
                    var counted = 0
                    var audited = 0
                    for try await value in try await connection.query(
                        "SELECT coalesce(sum(value), 0)::int FROM counters WHERE name = 'webhook_endpoints_disabled_total'", logger: TestDatabase.quietLogger
                    ).decode(Int.self) { counted = value }
                    for try await value in try await connection.query(
                        "SELECT count(*)::int FROM audit_events WHERE action = 'webhook_endpoint_disabled'", logger: TestDatabase.quietLogger
                    ).decode(Int.self) { audited = value }
                    return (counted, audited)
                }
                #expect(disabledCount == 1 && audited == 1)
            }
        }
    }

    @Test("a hanging endpoint times out, is recorded, and cannot starve the others")
    func hangingEndpoint() async throws {
        var settings = WebhookSettings.testing
        // 2 s attempts: with 1 s, the healthy endpoint's attempts timed out under the whole suite's load.
        settings.timeout = .seconds(2)
        settings.perEndpointConcurrency = 2
        try await withHarness(settings: settings) { harness in
            let sink = WebhookSink { _, request in request.path == "/hang" ? .init(status: 200, delay: .seconds(8)) : .init(status: 200) }
            try await sink.run { base in
                let (hang, _) = try await harness.addEndpoint(url: base + "/hang", types: ["t.x"])
                let (fine, _) = try await harness.addEndpoint(url: base + "/fine", types: ["t.x"])
                for index in 0..<6 { _ = await harness.publish(#"{"type":"t.x","data":\#(index)}"#) }
                let started = ContinuousClock.now
                let report = try await harness.drain()
                #expect(report.succeeded == 6 && report.retrying == 6, "\(report)")
                // Three rounds of two 2 s timeouts: ~6 s; waiting out the hang would be three rounds of 8 s.
                #expect(ContinuousClock.now - started < .seconds(15))
                let hung = try await harness.attempts(endpoint: hang)
                #expect(hung.count == 6 && hung.allSatisfy { $0.2 == "timeout" })
                #expect(try await harness.attempts(endpoint: fine).allSatisfy { $0.1 == 200 })
            }
        }
    }

    @Test("SSRF: a host name resolving to loopback is blocked unless private targets are allowed; blocked fails at once and disables the endpoint")
    func ssrf() async throws {
        var settings = WebhookSettings.testing
        settings.allowPrivateTargets = false
        try await withHarness(settings: settings) { harness in
            let sink = WebhookSink()
            try await sink.run { base in
                let port = sink.port.withLock { $0 }
                let (byName, _) = try await harness.addEndpoint(url: "http://localhost:\(port)/x", types: ["s.s"])
                let (byIP, _) = try await harness.addEndpoint(url: base + "/y", types: ["s.s"])
                let (metadata, _) = try await harness.addEndpoint(url: "http://169.254.169.254/computeMetadata/v1/", types: ["s.s"])
                let (mapped, _) = try await harness.addEndpoint(url: "http://[::ffff:127.0.0.1]:\(port)/z", types: ["s.s"])
                let published = await harness.publish(#"{"type":"s.s","data":1}"#)
                #expect(published.status == .accepted, "\(published.status) \(published.text)")
                _ = try await harness.drain()
                #expect(sink.requests.isEmpty)
                for endpoint in [byName, byIP, metadata, mapped] {
                    #expect(try await harness.attempts(endpoint: endpoint).map(\.2) == ["ssrf_blocked"])
                    #expect(try await harness.delivery(endpoint: endpoint).status == "failed")
                    let stored = try await harness.endpoint(endpoint)
                    #expect(stored?.enabled == false && stored?.disabledReason == "cannot deliver: ssrf_blocked")
                }
                // Nothing is retried on the schedule.
                harness.clock.advance(seconds: 3600)
                #expect(try await harness.drain().claimed == 0)
            }
        }
    }

    @Test("an endpoint that has only failed for the configured period is disabled; a success resets the streak")
    func failingTooLong() async throws {
        var settings = WebhookSettings.testing
        settings.disableAfter = 3600
        settings.schedule = RetrySchedule(delays: [0, 1000, 1000, 1000, 1000, 1000], jitter: 0)
        try await withHarness(settings: settings) { harness in
            let sink = WebhookSink { _, _ in .init(status: 500) }
            try await sink.run { base in
                let (endpoint, _) = try await harness.addEndpoint(url: base + "/down", types: ["d.d"])
                _ = await harness.publish(#"{"type":"d.d","data":1}"#)
                for _ in 0..<5 {
                    _ = try await harness.drain()
                    harness.clock.advance(seconds: 1000)
                }
                let state = try #require(try await harness.endpoint(endpoint))
                #expect(!state.enabled)
                #expect(state.disabledReason == "failing for too long")
            }
        }
    }
}

@Suite("private access: the shared bearer token where IAM is not in front", .machineShare)
struct PrivateAccessTests {
    @Test("the scheme is case-insensitive; the token is not; anything else is refused")
    func scheme() throws {
        let access = PrivateAccess(token: "internal-token-0123456789")
        func request(_ authorization: String?) -> FunctionRequest {
            FunctionRequest(method: .post, path: "/drain", headers: authorization.map { [.authorization: $0] } ?? [:], body: Data())
        }
        for accepted in ["Bearer internal-token-0123456789", "bearer internal-token-0123456789", "BEARER internal-token-0123456789"] {
            #expect(throws: Never.self) { try access.check(request(accepted)) }
        }
        for refused in [nil, "", "Bearer", "Bearer ", "Bearer INTERNAL-TOKEN-0123456789", "Basic internal-token-0123456789", "bearer internal-token-012345678"] {
            #expect(throws: PrivateAccess.Denied.self) { try access.check(request(refused)) }
        }
    }
}
