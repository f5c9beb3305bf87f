import Domain
import Foundation
import HTTPTypes
import PostgresNIO
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions

/// `functions maintain` on a real database: what expired goes, what is pending, recent or a replay guard stays.
@Suite("functions maintain: retention", .machineShare)
struct MaintainTests {
    static let day: TimeInterval = 86_400

    /// Counts of rows per table.
    func counts(_ database: Database, _ tables: [String]) async throws -> [String: Int] {
        try await database.withConnection { connection in
            var counts: [String: Int] = [:]
            for table in tables {
                for try await count in try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"), logger: TestDatabase.quietLogger)
                    .decode(Int.self)
                { counts[table] = count }
            }
            return counts
        }
    }

    func ids(_ database: Database, _ sql: String) async throws -> Set<String> {
        try await database.withConnection { connection in
            var ids: Set<String> = []
            for try await id in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.quietLogger).decode(String.self) { ids.insert(id) }
            return ids
        }
    }

    @Test("two runs at once remove exactly what expired, once: never a pending or recent record, and an hmac event stays as a replay guard")
    func exactlyTheExpired() async throws {
        try await TestDatabase.with(suite: "maintain-\(UUID().uuidString.prefix(8))") { database in
            let now = Date()
            @Sendable func ago(_ days: Double) -> Date { now.addingTimeInterval(-days * Self.day) }
            try await database.withConnection { connection in
                let logger = TestDatabase.quietLogger
                try await connection.query(
                    """
                    INSERT INTO webhook_sources (id, slug, scheme, secret) VALUES (1, 'std', 'standard', 's'), (2, 'mac', 'hmac-sha256', 's');
                    """,
                    logger: logger
                )
                try await connection.query(
                    "INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES ('00000000-0000-0000-0000-0000000000e1', 'https://example.com', '{*}', 's')",
                    logger: logger
                )
                // Published messages: (name, created, delivery status, finished).
                let messages: [(String, Date, String?, Date?)] = [
                    ("old-done", ago(40), "succeeded", ago(35)), ("old-pending", ago(40), "pending", nil), ("old-late", ago(40), "failed", ago(10)),
                    ("new", ago(5), "succeeded", ago(5)), ("old-none", ago(40), nil, nil),
                ]
                for (name, created, status, finished) in messages {
                    try await connection.query(
                        """
                        INSERT INTO webhook_messages (id, event_type, payload, response, created_at, idempotency_key)
                        VALUES (md5(\(name))::uuid, 't', '\\x7b7d', '{}', \(created), \(name))
                        """,
                        logger: logger
                    )
                    guard let status else { continue }
                    try await connection.query(
                        """
                        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at)
                        VALUES (md5(\(name) || '-d')::uuid, md5(\(name))::uuid, '00000000-0000-0000-0000-0000000000e1', \(status), 2, \(created), \(created), \(finished));
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        """
                        INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code)
                        SELECT md5(\(name) || '-d')::uuid, n, \(created), 3, 500 FROM generate_series(1, 2) n
                        """,
                        logger: logger
                    )
                }
                // Received events: (name, source, received, forwarded delivery status, finished).
                let events: [(String, Int, Date, String?, Date?)] = [
                    ("ev-old", 1, ago(40), "succeeded", ago(35)), ("ev-old-pending", 1, ago(40), "pending", nil), ("ev-mac", 2, ago(40), "succeeded", ago(35)),
                    ("ev-new", 1, ago(5), nil, nil),
                ]
                for (name, source, received, status, finished) in events {
                    try await connection.query(
                        """
                        INSERT INTO webhook_events (id, source_id, source_slug, message_id, status, payload, received_at, response_status, response_body, unsigned_headers)
                        VALUES (md5(\(name))::uuid, \(source), CASE WHEN \(source) = 1 THEN 'std' ELSE 'mac' END, \(name), 'accepted',
                            convert_to('{"patient":"p"}', 'UTF8'), \(received), 202, '{}', '{"X-Event-ID":"x"}')
                        """,
                        logger: logger
                    )
                    guard let status else { continue }
                    try await connection.query(
                        """
                        INSERT INTO webhook_messages (id, event_type, payload, response, created_at, source_event_id)
                        VALUES (md5(\(name) || '-m')::uuid, 't', '\\x7b7d', '{}', \(received), md5(\(name))::uuid);
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        """
                        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at)
                        VALUES (md5(\(name) || '-d')::uuid, md5(\(name) || '-m')::uuid, '00000000-0000-0000-0000-0000000000e1', \(status), 1, \(received), \(received), \(finished))
                        """,
                        logger: logger
                    )
                }
                // Alerts: (name, created, send status, finished).
                for (name, created, status, finished) in [("al-old", ago(100), "sent", ago(95)), ("al-pending", ago(100), "pending", nil), ("al-new", ago(10), "sent", ago(10))] {
                    try await connection.query(
                        """
                        INSERT INTO alerts (id, alert_type, severity, subject, message, recipients, created_at) VALUES (md5(\(name))::uuid, 't', 'info', 's', '\\x6d', '{a@b.c}', \(created));
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        """
                        INSERT INTO alert_sends (id, alert_id, channel, status, attempts, next_attempt_at, created_at, finished_at)
                        VALUES (md5(\(name) || '-s')::uuid, md5(\(name))::uuid, 'email', \(status), 1, \(created), \(created), \(finished))
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        "INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms) VALUES (md5(\(name) || '-s')::uuid, 1, \(created), 1)",
                        logger: logger
                    )
                }
                try await connection.query(
                    """
                    INSERT INTO audit_events (at, action, outcome, detail) VALUES (\(ago(2600)), 'old', 'success', '{}'), (\(ago(2500)), 'kept', 'success', '{}');
                    """,
                    logger: logger
                )
                try await connection.query(
                    "INSERT INTO login_failures (scope, key_sha256, at) VALUES ('user', '\\x00', \(ago(1))), ('user', '\\x01', \(now))",
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO refresh_token_families (id, user_id, origin, created_at, expires_at)
                    VALUES ('00000000-0000-0000-0000-0000000000f1', 1, 'login', \(ago(40)), \(ago(2))), ('00000000-0000-0000-0000-0000000000f2', 1, 'login', \(now), \(now.addingTimeInterval(Self.day)))
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO refresh_tokens (jti, family_id, token_sha256, issued_at, expires_at)
                    VALUES ('old', '00000000-0000-0000-0000-0000000000f1', '\\x00', \(ago(3)), \(ago(2))), ('live', '00000000-0000-0000-0000-0000000000f2', '\\x01', \(now), \(now.addingTimeInterval(Self.day)))
                    """,
                    logger: logger
                )
            }

            // Two runs at once, one row per batch so that they interleave on every table.
            let purge = Purge(policy: RetentionPolicy(), failureWindow: 900, batchSize: 1)
            let deadline = ContinuousClock.now + .seconds(60)
            async let first = Maintain.purge(purge, database: database, until: deadline, logger: TestDatabase.quietLogger)
            async let second = Maintain.purge(purge, database: database, until: deadline, logger: TestDatabase.quietLogger)
            let reports = try await [first, second]
            var removed: [String: Int] = [:]
            for report in reports {
                for (_, tables) in report.removed { removed.merge(tables, uniquingKeysWith: +) }
            }
            // Removed once: old-done, old-none, ev-old (event, its message, delivery), al-old, one audit row, one
            // failure, one token and its family; the hmac event's forwarded message and delivery (its row stays).
            #expect(removed["webhook_messages"] == 2 + 1 + 1, "\(removed)")
            #expect(removed["webhook_deliveries"] == 1 + 1 + 1 && removed["webhook_attempts"] == 2, "\(removed)")
            #expect(removed["webhook_events"] == 2, "\(removed)")  // ev-old deleted, ev-mac emptied
            #expect(removed["alerts"] == 1 && removed["alert_sends"] == 1 && removed["alert_send_attempts"] == 1, "\(removed)")
            #expect(removed["audit_events"] == 1 && removed["login_failures"] == 1, "\(removed)")
            #expect(removed["refresh_tokens"] == 1 && removed["refresh_token_families"] == 1, "\(removed)")

            let messages = try await ids(database, "SELECT idempotency_key FROM webhook_messages WHERE source_event_id IS NULL")
            #expect(messages == ["old-pending", "old-late", "new"])
            let events = try await ids(database, "SELECT message_id FROM webhook_events")
            #expect(events == ["ev-old-pending", "ev-mac", "ev-new"])
            let guarded = try await ids(database, "SELECT message_id || ':' || length(payload) || ':' || coalesce(unsigned_headers::text, '-') FROM webhook_events WHERE purged_at IS NOT NULL")
            #expect(guarded == ["ev-mac:0:-"])
            #expect(try await ids(database, "SELECT id::text FROM alerts WHERE id IN (md5('al-pending')::uuid, md5('al-new')::uuid)").count == 2)
            #expect(try await counts(database, ["alerts"]) == ["alerts": 2])
            #expect(try await ids(database, "SELECT action FROM audit_events") == ["kept"])
            #expect(try await ids(database, "SELECT jti FROM refresh_tokens") == ["live"])
            let left = try await counts(database, ["webhook_deliveries", "webhook_attempts", "alert_sends", "login_failures", "refresh_token_families"])
            #expect(left == ["webhook_deliveries": 4, "webhook_attempts": 6, "alert_sends": 2, "login_failures": 1, "refresh_token_families": 1], "\(left)")

            // Again: nothing more is due.
            let again = try await Maintain.purge(purge, database: database, until: deadline, logger: TestDatabase.quietLogger)
            #expect(again.removed.allSatisfy { $0.1.values.allSatisfy { $0 == 0 } }, "\(again.removed)")
        }
    }

    @Test("an hmac-sha256 body replayed after retention is still a duplicate: the purged event refuses it, and cannot be replayed to consumers")
    func replayGuard() async throws {
        try await WebhookHarness.withOwnDatabase("maintain-guard", settings: .testing) { harness in
            let secret = "shared-secret-for-the-guard"
            let (slug, _) = try await harness.addSource(scheme: .hmacSHA256, secret: secret)
            let body = #"{"id":"evt-1","type":"lab.result","data":{"patient":"p-9"}}"#
            func post() async -> FunctionResponse {
                await harness.invoker.invoke(
                    FunctionRequest(
                        method: .post, path: "/webhook-receive/\(slug)",
                        headers: [HTTPField.Name("X-Signature")!: WebhookSignature.hex(body: Data(body.utf8), secret: secret), .contentType: "application/json"],
                        body: Data(body.utf8)
                    )
                )
            }
            let first = await post()
            #expect(first.status == .accepted)
            let purge = Purge(policy: RetentionPolicy(), failureWindow: 900)
            let later = Date().addingTimeInterval(31 * Self.day)
            let removed = try await harness.database.withConnection { connection in
                try await purge.batch(.replayGuards, now: later, on: connection, logger: harness.logger)
            }
            #expect(removed["webhook_events"] == 1, "\(removed)")
            let again = await post()
            #expect(again.status == .accepted && again.text == first.text, "\(again.text)")
            let rows = try await harness.database.withConnection { connection in
                var rows: [(Int, Bool)] = []
                for try await row in try await connection.query(
                    "SELECT length(payload), purged_at IS NOT NULL FROM webhook_events WHERE source_slug = \(slug)", logger: harness.logger
                ).decode((Int, Bool).self) { rows.append(row) }
                return rows
            }
            #expect(rows.count == 1 && rows[0] == (0, true))
            let idText = try #require(first.json["id"] as? String)
            let id = try #require(UUID(uuidString: idText))
            let receiver = WebhookReceiver(database: harness.database, encryption: harness.encryption, dispatcher: harness.dispatcher, clock: harness.clock.clock)
            let replayed = try await receiver.replay([id], failedOnly: false, logger: harness.logger)
            #expect(replayed.events == 0, "\(replayed)")
        }
    }

    @Test("a drain and a scrape keep working while a purge of 100,000 rows runs (the 1,000,000-row case: Benchmarks/retention.py)")
    func trafficDuringPurge() async throws {
        var settings = WebhookSettings.testing
        settings.lease = .seconds(30)
        try await WebhookHarness.withOwnDatabase("maintain-traffic", settings: settings) { harness in
            let sink = WebhookSink()
            try await sink.run { base in
                let (live, _) = try await harness.addEndpoint(url: base + "/live", types: ["t.*"])
                try await harness.database.withConnection { connection in
                    // 25,000 messages finished 40 days ago, each with a delivery and two attempts: 100,000 rows.
                    try await connection.query(
                        """
                        WITH m AS (
                            INSERT INTO webhook_messages (id, event_type, payload, response, created_at)
                            SELECT gen_random_uuid(), 't.old', '\\x7b7d', '{}', now() - interval '40 days' FROM generate_series(1, 25000) RETURNING id
                        ), d AS (
                            INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at)
                            SELECT gen_random_uuid(), id, \(live), 'failed', 2, now(), now() - interval '40 days', now() - interval '39 days' FROM m RETURNING id
                        )
                        INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms) SELECT d.id, n, now(), 1 FROM d, generate_series(1, 2) n
                        """,
                        logger: harness.logger
                    )
                }
                let metrics = Metrics(database: harness.database, access: PrivateAccess(token: nil))
                let scraper = FunctionInvoker(registry: try FunctionRegistry(functions: [metrics], target: "metrics"), logger: harness.logger, errorMapper: Answers.error(for:))
                let purge = Purge(policy: RetentionPolicy(), failureWindow: 900, batchSize: 2000)
                let database = harness.database
                async let purged = Maintain.purge(purge, database: database, until: ContinuousClock.now + .seconds(120), logger: TestDatabase.quietLogger)
                // Once the purge is under way: 200 events published and delivered, and scrapes answered.
                var left = 25_000
                while left == 25_000 {
                    try await Task.sleep(for: .milliseconds(20))
                    left = try await database.withConnection { connection in
                        var count = 0
                        for try await value in try await connection.query("SELECT count(*)::int FROM webhook_messages WHERE event_type = 't.old'", logger: harness.logger)
                            .decode(Int.self) { count = value }
                        return count
                    }
                }
                #expect(left > 0, "the purge ended before the traffic started: make it bigger")
                for index in 0..<200 { #expect(await harness.publish(#"{"type":"t.new","data":\#(index)}"#).status == .accepted) }
                _ = try await harness.drain()
                let scrape = ContinuousClock.now
                let answer = await scraper.invoke(FunctionRequest(method: .get, path: "/"))
                #expect(answer.status == .ok && ContinuousClock.now - scrape < .seconds(2))
                let report = try await purged
                #expect(Set(sink.requests.compactMap { $0.headers["webhook-id"] }).count == 200)
                let removed = report.removed.reduce(0) { $0 + $1.1.values.reduce(0, +) }
                #expect(removed == 100_000, "\(report.removed)")
            }
        }
    }
}
