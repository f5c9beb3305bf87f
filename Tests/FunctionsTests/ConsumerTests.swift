import Domain
import Foundation
import HTTPTypes
import PostgresNIO
import Runtime
import Store
import Synchronization
import Testing
import TestSupport

@testable import Functions

/// Received events reach their source's consumers through the delivery queue, with real consumers on 127.0.0.1:
/// one that accepts, one that fails twice first, one that is private and checks a Google ID token from a fake
/// metadata server.
@Suite("webhook-receive → consumers (real consumers, a fake metadata server)", .machineShare)
struct ConsumerTests {
    func withHarness(settings: WebhookSettings = .testing, _ body: @escaping @Sendable (WebhookHarness) async throws -> Void) async throws {
        try await WebhookHarness.withOwnDatabase("consumers", settings: settings, body)
    }

    /// The JSON object in `data`.
    static func object(_ data: Data) -> [String: Any] { (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:] }

    /// True when `request` carries a valid Standard Webhooks signature and `X-Signature` for `secret`.
    static func signed(_ request: WebhookSink.Received, secret: String) -> Bool {
        let standard = Result {
            try WebhookSignature.verifyStandard(
                id: request.headers["webhook-id"], timestamp: request.headers["webhook-timestamp"], signatures: request.headers["webhook-signature"],
                body: request.body, secrets: [secret], now: Date(timeIntervalSince1970: Double(request.headers["webhook-timestamp"] ?? "0") ?? 0)
            )
        }
        return (try? standard.get()) != nil && request.headers["x-signature"] == WebhookSignature.hex(body: request.body, secret: secret)
    }

    @Test("an accepted event reaches each consumer of its source once per attempt, signed, retried on the schedule; ignored, duplicate and published events reach none")
    func consumers() async throws {
        // Counts requests exactly, and nothing here is slow: an attempt timeout a loaded machine cannot reach (at the
        // testing 2 s, a timed-out attempt that had reached the consumer was sent again, as at-least-once allows).
        var settings = WebhookSettings.testing
        settings.timeout = .seconds(10)
        try await withHarness(settings: settings) { harness in
            let accepting = WebhookSink()
            let flaky = WebhookSink { index, _ in WebhookSink.Answer(status: index < 2 ? 500 : 200) }
            let elsewhere = WebhookSink()
            let subscriber = WebhookSink()
            try await accepting.run { acceptingURL in
                try await flaky.run { flakyURL in
                    try await elsewhere.run { elsewhereURL in
                        try await subscriber.run { subscriberURL in
                            let (slug, secret) = try await harness.addSource(allow: ["order.*"])
                            let (other, _) = try await harness.addSource()
                            let (ordersID, ordersSecret) = try await harness.addConsumer(source: slug, url: acceptingURL + "/orders", types: ["order.*"])
                            let (allID, allSecret) = try await harness.addConsumer(source: slug, url: flakyURL + "/all")
                            _ = try await harness.addConsumer(source: other, url: elsewhereURL + "/other")
                            _ = try await harness.addEndpoint(url: subscriberURL + "/published", types: ["*"])

                            let body = #"{"type":"order.created","id":"o-1","data":{"total":12.50,"note":null}}"#
                            let accepted = await harness.receive(slug: slug, secret: secret, body: body, id: "msg_order_1")
                            #expect(accepted.status == .accepted)
                            let eventID = accepted.json["id"] as? String
                            // The same message again, an event type the source may not send, and a published event.
                            #expect(await harness.receive(slug: slug, secret: secret, body: body, id: "msg_order_1").text == accepted.text)
                            #expect(await harness.receive(slug: slug, secret: secret, body: #"{"type":"billing.changed"}"#).status == .ok)
                            #expect(await harness.publish(#"{"type":"order.created","data":{"internal":true}}"#).status == .accepted)

                            func gauge(_ name: String) async throws -> Double? {
                                try await harness.database.withConnection { try await MetricsSnapshot.read(on: $0, logger: harness.logger) }
                                    .first { $0.name == name }?.value
                            }
                            #expect(try await gauge("webhook_forwarding_backlog") == 2)
                            _ = try await harness.drain()
                            // The failing consumer's delivery waits for its retry: still in the backlog.
                            #expect(try await gauge("webhook_forwarding_backlog") == 1)
                            harness.clock.advance(seconds: 10)
                            _ = try await harness.drain()
                            harness.clock.advance(seconds: 400)
                            _ = try await harness.drain()
                            #expect(try await gauge("webhook_forwarding_backlog") == 0)
                            let attempts = try await harness.database.withConnection { try await Counters.all(on: $0, logger: harness.logger) }
                                .filter { $0.name == "webhook_consumer_attempts_total" }
                            #expect(attempts.first { $0.labels == ["source": slug, "outcome": "succeeded"] }?.value == 2)
                            #expect(attempts.first { $0.labels == ["source": slug, "outcome": "retrying"] }?.value == 2)

                            #expect(accepting.requests.count == 1)
                            #expect(flaky.requests.count == 3)
                            #expect(elsewhere.requests.isEmpty)
                            #expect(subscriber.requests.count == 1)
                            #expect(Self.object(subscriber.requests.first?.body ?? Data())["type"] as? String == "order.created")
                            for request in accepting.requests { #expect(Self.signed(request, secret: ordersSecret)) }
                            for request in flaky.requests { #expect(Self.signed(request, secret: allSecret)) }
                            // The received bytes, as they came, inside the envelope every webhook has.
                            let delivered = try #require(accepting.requests.first)
                            let text = String(decoding: delivered.body, as: UTF8.self)
                            #expect(text.contains("\"data\":" + body + ",\"metadata\":"))
                            let envelope = Self.object(delivered.body)
                            #expect(envelope["type"] as? String == "\(slug).order.created")
                            let metadata = envelope["metadata"] as? [String: Any] ?? [:]
                            #expect(metadata["source"] as? String == slug)
                            #expect(metadata["event_id"] as? String == eventID)
                            #expect(metadata["event_type"] as? String == "order.created")
                            #expect(metadata["message_id"] as? String == "msg_order_1")
                            // One message, the same webhook-id on every attempt; attempts numbered 1, 2, 3.
                            #expect(Set(flaky.requests.map { $0.headers["webhook-id"] ?? "" }).count == 1)
                            #expect(try await harness.attempts(endpoint: allID).map(\.0) == [1, 2, 3])
                            #expect(try await harness.attempts(endpoint: ordersID).map(\.1) == [200])
                            let forwarded = try await harness.database.withConnection { connection in
                                try await Counters.all(on: connection, logger: harness.logger)
                            }
                            .filter { $0.name == "webhook_events_forwarded_total" }
                            #expect(forwarded.map(\.labels) == [["source": slug]])
                            #expect(forwarded.map(\.value) == [1])
                        }
                    }
                }
            }
        }
    }

    @Test("a private consumer gets a Google-signed ID token for its audience, fetched once per drain and audience; no token, no request")
    func idTokens() async throws {
        let failing = Mutex(false)
        let metadata = WebhookSink { _, request in
            if failing.withLock({ $0 }) { return WebhookSink.Answer(status: 503, body: "unavailable") }
            guard request.headers["metadata-flavor"] == "Google" else { return WebhookSink.Answer(status: 403) }
            return WebhookSink.Answer(status: 200, body: "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJl\n")
        }
        let consumer = WebhookSink()
        try await metadata.run { metadataURL in
            var settings = WebhookSettings.testing
            settings.metadataHost = String(metadataURL.dropFirst("http://".count))
            // Attempts that cannot time out on a loaded suite: the test counts requests, and a timed-out attempt that
            // reached the consumer is rightly sent again.
            settings.timeout = .seconds(8)
            try await withHarness(settings: settings) { harness in
                try await consumer.run { consumerURL in
                    let (slug, secret) = try await harness.addSource()
                    let audience = consumerURL
                    let (id, _) = try await harness.addConsumer(source: slug, url: consumerURL + "/private", audience: audience)
                    for index in 0..<3 {
                        #expect(await harness.receive(slug: slug, secret: secret, body: #"{"type":"lab.result","n":\#(index)}"#).status == .accepted)
                    }
                    _ = try await harness.drain()
                    #expect(consumer.requests.count == 3)
                    #expect(consumer.requests.allSatisfy { $0.headers["authorization"] == "Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ0ZXN0In0.c2lnbmF0dXJl" })
                    #expect(metadata.requests.count == 1)
                    let asked = try #require(metadata.requests.first)
                    #expect(asked.path == "/computeMetadata/v1/instance/service-accounts/default/identity")
                    #expect(asked.headers["metadata-flavor"] == "Google")

                    // The metadata server fails: nothing is sent without the token, the attempt is on record, retried.
                    failing.withLock { $0 = true }
                    #expect(await harness.receive(slug: slug, secret: secret, body: #"{"type":"lab.result","n":9}"#).status == .accepted)
                    _ = try await harness.drain()
                    #expect(consumer.requests.count == 3)
                    let attempts = try await harness.attempts(endpoint: id)
                    #expect(attempts.count == 4)
                    #expect(attempts.last?.2 == "id_token")
                    failing.withLock { $0 = false }
                    harness.clock.advance(seconds: 10)
                    _ = try await harness.drain()
                    #expect(consumer.requests.count == 4)
                }
            }
        }
    }

    @Test("with a first-attempt budget, receive hands the event to its consumer before it answers")
    func firstAttempts() async throws {
        var settings = WebhookSettings.testing
        settings.immediateBudget = .seconds(2)
        // A lease that covers the attempt with room (an attempt starts only while its claim's lease covers its
        // timeout and a second to record it; the testing lease of 4 s does not once a loaded suite slows the receive).
        settings.lease = .seconds(20)
        let consumer = WebhookSink()
        try await withHarness(settings: settings) { harness in
            try await consumer.run { consumerURL in
                let (slug, secret) = try await harness.addSource(scheme: .hmacSHA256, secret: "hmac-secret-for-first-attempts")
                let (id, _) = try await harness.addConsumer(source: slug, url: consumerURL + "/now", types: ["lab.*"])
                let body = #"{"id":"lab-1","type":"lab.result"}"#
                let headers: HTTPFields = [HTTPField.Name("X-Signature")!: WebhookSignature.hex(body: Data(body.utf8), secret: "hmac-secret-for-first-attempts")]
                let answer = await harness.invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/\(slug)", headers: headers, body: Data(body.utf8)))
                #expect(answer.status == .accepted)
                #expect(consumer.requests.count == 1)
                #expect(try await harness.delivery(endpoint: id).status == "succeeded")
                #expect(try await harness.drain().claimed == 0)
            }
        }
    }
}

/// webhook-receive and webhook-dispatch as real processes on one database: four receivers taking events at once
/// (with duplicates sent to different instances), first attempts from the receivers, then two overlapping drains.
@Suite("webhook-receive processes → consumers: four receivers, two overlapping drains", .machineShare, .serialized)
struct ConsumerProcessTests {
    static let secret = "whsec_" + Data("consumer-process-test-secret-32b".utf8).base64EncodedString()

    func environment(_ configuration: DatabaseConfiguration, target: String) -> [String: String] {
        [
            "DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "FUNCTION_TARGET": target, "PORT": "0", "HOST": "127.0.0.1",
            "LOG_LEVEL": "notice", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_TIMEOUT_SECONDS": "5", "WEBHOOK_RETRY_SCHEDULE": "0,1,1,1",
            "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey, "WEBHOOK_IMMEDIATE_BUDGET_MS": "1000",
            // Six servers open their whole pool at start: small pools keep the test cluster (max_connections 200,
            // shared with every suite running beside this one) from running out of connections.
            "DB_POOL_SIZE": "3",
        ]
    }

    /// A POST as a partner (or Cloud Scheduler) makes it: tried again, up to three times, when the exchange fails
    /// before an answer (which the promises under test must survive anyway: a repeat is a duplicate).
    static func send(port: Int, path: String, headers: [(String, String)] = [], body: Data) async throws -> HTTPTestClient.Response {
        var tries = 0
        while true {
            tries += 1
            do {
                return try await HTTPTestClient.send(port: port, method: "POST", path: path, headers: headers, body: body)
            } catch where tries < 3 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Deliveries not yet succeeded.
    static func undelivered(suite: String) async throws -> Int {
        try await TestDatabase.with(suite: suite) { database in
            try await database.withConnection { connection in
                let rows = try await connection.query(
                    "SELECT count(*)::int FROM webhook_deliveries WHERE status <> 'succeeded'", logger: TestDatabase.quietLogger
                )
                for try await count in rows.decode(Int.self) { return count }
                return -1
            }
        }
    }

    @Test("each accepted event reaches each consumer exactly once per attempt; ignored and duplicate events reach nobody")
    func fourReceiversTwoDrains() async throws {
        let suite = "consumer-processes"
        let configuration = try await TestDatabase.configuration(suite: suite)
        let good = WebhookSink { _, _ in .init(status: 200, delay: .milliseconds(5)) }
        // Fails each message's first two requests.
        let seen = Mutex<[String: Int]>([:])
        let flaky = WebhookSink { _, request in
            let count = seen.withLock { seen in
                seen[request.headers["webhook-id"] ?? "", default: 0] += 1
                return seen[request.headers["webhook-id"] ?? ""]!
            }
            return .init(status: count <= 2 ? 503 : 200)
        }
        try await good.run { goodURL in
            try await flaky.run { flakyURL in
                try await TestDatabase.with(suite: suite) { database in
                    let encryption = try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: false)
                    try await database.withConnection { connection in
                        let logger = TestDatabase.quietLogger
                        _ = try await WebhookSourceStore(encryption: encryption).add(
                            slug: "lab", scheme: .standard, secret: Self.secret, allowedEventTypes: ["load.*"], on: connection, logger: logger
                        )
                        let source = try #require(try await WebhookSourceStore(encryption: encryption).find(slug: "lab", on: connection, logger: logger))
                        let store = WebhookEndpointStore(encryption: encryption)
                        _ = try await store.add(url: goodURL + "/good", eventTypes: ["load.*"], description: "", sourceID: source.id, on: connection, logger: logger)
                        _ = try await store.add(url: flakyURL + "/flaky", eventTypes: ["*"], description: "", sourceID: source.id, on: connection, logger: logger)
                    }
                }
                let receivers = try (0..<4).map { _ in
                    try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration, target: "webhook-receive"))
                }
                let dispatchers = try (0..<2).map { _ in
                    try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration, target: "webhook-dispatch"))
                }
                var ports: [Int] = []
                for process in receivers { ports.append(try await process.listeningPort()) }
                var drainPorts: [Int] = []
                for process in dispatchers { drainPorts.append(try await process.listeningPort()) }
                let portList = ports
                // 60 events, each sent to two different receivers at once (a partner's retry racing its first try),
                // and 10 of a type the source may not send.
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<70 {
                        let type = index < 60 ? "load.test" : "other.thing"
                        let body = Data(#"{"type":"\#(type)","n":\#(index)}"#.utf8)
                        let id = "msg_\(index)"
                        let timestamp = Int64(Date().timeIntervalSince1970)
                        let signature = WebhookSignature.standard(id: id, timestamp: timestamp, body: body, secret: Self.secret)
                        for copy in 0..<2 {
                            let port = portList[(index + copy) % portList.count]
                            group.addTask {
                                let response = try await Self.send(
                                    port: port, path: "/lab",
                                    headers: [("webhook-id", id), ("webhook-timestamp", String(timestamp)), ("webhook-signature", signature)], body: body
                                )
                                return response.status
                            }
                        }
                    }
                    var statuses: [Int] = []
                    for try await status in group { statuses.append(status) }
                    return statuses
                }
                #expect(statuses.filter { $0 == 202 }.count == 120)
                #expect(statuses.filter { $0 == 200 }.count == 20)
                // Two drains at once, four rounds or more: the failing consumer's retries come due after a second, and
                // on a loaded machine the receivers' first attempts may have been left to the drains (more rounds, until
                // nothing is left to deliver or 20 rounds have run).
                for round in 0..<20 {
                    try await Task.sleep(for: .milliseconds(1200))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for port in drainPorts {
                            group.addTask { _ = try await Self.send(port: port, path: "/drain", body: Data()) }
                        }
                        try await group.waitForAll()
                    }
                    if round >= 3, try await Self.undelivered(suite: suite) == 0 { break }
                }
                // Per consumer and message: the attempts on record (numbered 1…n, no gaps) and whether it succeeded.
                let recorded = try await TestDatabase.with(suite: suite) { database in
                    try await database.withConnection { connection in
                        var rows: [String: [String: (attempts: Int, highest: Int, succeeded: Bool)]] = [:]
                        for try await (url, webhookID, attempts, highest, succeeded) in try await connection.query(
                            """
                            SELECT w.url, 'msg_' || replace(m.id::text, '-', ''), count(a.attempt)::int, coalesce(max(a.attempt), 0)::int,
                                d.status = 'succeeded'
                            FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id JOIN webhook_messages m ON m.id = d.message_id
                            LEFT JOIN webhook_attempts a ON a.delivery_id = d.id
                            GROUP BY w.url, m.id, d.status
                            """,
                            logger: TestDatabase.quietLogger
                        ).decode((String, String, Int, Int, Bool).self) {
                            rows[String(url.split(separator: "/").last ?? ""), default: [:]][webhookID] = (attempts, highest, succeeded)
                        }
                        return rows
                    }
                }
                for (sink, name) in [(good, "good"), (flaky, "flaky")] {
                    let received = Dictionary(grouping: sink.requests.compactMap { $0.headers["webhook-id"] }, by: { $0 }).mapValues(\.count)
                    let onRecord = recorded[name] ?? [:]
                    // Every accepted event once per consumer (60 messages, not 70 or 120), every one delivered in the end.
                    #expect(received.count == 60 && onRecord.count == 60, "\(name): \(received.count) received, \(onRecord.count) on record")
                    #expect(onRecord.values.allSatisfy { $0.succeeded && $0.attempts == $0.highest }, "\(name)")
                    // Exactly one request per attempt on record (a timed-out attempt that reached the consumer is a
                    // second request, and a second attempt on record, which at-least-once allows).
                    let mismatched = received.filter { onRecord[$0.key]?.attempts != $0.value }
                    #expect(mismatched.isEmpty, "\(name): \(mismatched.prefix(3)) against \(mismatched.keys.prefix(3).map { onRecord[$0].map { "\($0)" } ?? "-" })")
                }
                // The failing consumer's two refusals per message were retried: three requests or more each.
                #expect(seen.withLock { $0.count == 60 && $0.values.allSatisfy { $0 >= 3 } })
                for process in receivers + dispatchers { process.signal(SIGTERM) }
                for process in receivers + dispatchers { #expect(try await process.waitForExit() == 0) }
            }
        }
    }
}
