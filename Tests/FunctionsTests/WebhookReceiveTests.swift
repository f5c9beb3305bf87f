import Domain
import Foundation
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions
import PostgresNIO

@Suite("webhook-receive: verified over raw bytes, durable before the answer, de-duplicated", .machineShare)
struct WebhookReceiveTests {
    func withHarness(realDataMode: Bool = false, _ body: @escaping @Sendable (WebhookHarness) async throws -> Void) async throws {
        try await TestDatabase.with(suite: "webhook-receive") { database in
            try await body(try WebhookHarness(database: database, realDataMode: realDataMode))
        }
    }

    @Test("a signed event is stored and answered 202 {id}; the same message id repeats the first answer")
    func acceptAndDeduplicate() async throws {
        try await withHarness { harness in
            let (slug, secret) = try await harness.addSource()
            let body = #"{"type":"patient.updated","data":{"n":1}}"#
            let first = await harness.receive(slug: slug, secret: secret, body: body, id: "msg_same")
            #expect(first.status == .accepted)
            let id = try #require(first.json["id"] as? String)
            let again = await harness.receive(slug: slug, secret: secret, body: body, id: "msg_same")
            #expect(again.status == .accepted)
            #expect(again.text == first.text)
            let stored = try await harness.database.withConnection { connection in
                var rows: [(String, String?, String)] = []
                for try await row in try await connection.query(
                    "SELECT id::text, event_type, status FROM webhook_events WHERE source_slug = \(slug)", logger: harness.logger
                ).decode((String, String?, String).self) { rows.append(row) }
                return rows
            }
            #expect(stored.count == 1)
            #expect(stored.first?.0 == id && stored.first?.1 == "patient.updated" && stored.first?.2 == "accepted")
        }
    }

    @Test("every receive error: unknown or disabled source 404, bad/missing/stale signature 401, not JSON 400, too large 413")
    func errors() async throws {
        try await withHarness { harness in
            let (slug, secret) = try await harness.addSource()
            #expect(await harness.receive(slug: "no-such-source", secret: secret, body: "{}").status == .notFound)
            #expect(await harness.receive(slug: slug, secret: WebhookSignature.newSecret(), body: "{}").status == .unauthorized)
            let stale = await harness.receive(slug: slug, secret: secret, body: "{}", timestamp: harness.clock.clock.unixSeconds() - 301)
            #expect(stale.status == .unauthorized)
            #expect(stale.json["code"] as? String == "invalid_signature")
            let future = await harness.receive(slug: slug, secret: secret, body: "{}", timestamp: harness.clock.clock.unixSeconds() + 301)
            #expect(future.status == .unauthorized)
            let unsigned = await harness.invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/\(slug)", body: Data("{}".utf8)))
            #expect(unsigned.status == .unauthorized)
            #expect(await harness.receive(slug: slug, secret: secret, body: "not json").status == .badRequest)
            let huge = "{\"x\":\"" + String(repeating: "a", count: harness.settings.maxReceiveBytes) + "\"}"
            #expect(await harness.receive(slug: slug, secret: secret, body: huge).status == .contentTooLarge)
            let get = await harness.invoker.invoke(FunctionRequest(method: .get, path: "/webhook-receive/\(slug)"))
            #expect(get.status == .methodNotAllowed)
            // A body changed after signing fails, even by one byte.
            let id = "msg_tamper"
            let ts = harness.clock.clock.unixSeconds()
            let signature = WebhookSignature.standard(id: id, timestamp: ts, body: Data(#"{"a":1}"#.utf8), secret: secret)
            let tampered = await harness.invoker.invoke(
                FunctionRequest(
                    method: .post, path: "/webhook-receive/\(slug)",
                    headers: [HTTPField.Name("webhook-id")!: id, HTTPField.Name("webhook-timestamp")!: String(ts), HTTPField.Name("webhook-signature")!: signature],
                    body: Data(#"{"a":2}"#.utf8)
                )
            )
            #expect(tampered.status == .unauthorized)
            try await harness.database.withConnection { connection in
                _ = try await WebhookSourceStore(encryption: harness.encryption).setEnabled(slug: slug, false, on: connection, logger: harness.logger)
            }
            #expect(await harness.receive(slug: slug, secret: secret, body: "{}").status == .notFound)
        }
    }

    @Test("a flood of 10,000 bad signatures from 2 callers adds a few counted audit rows, not 10,000; every one is counted", .wholeMachine)
    func refusalFlood() async throws {
        try await withHarness { harness in
            let (slug, _) = try await harness.addSource()
            let wrong = WebhookSignature.newSecret()
            await withTaskGroup(of: Int.self) { group in
                for worker in 0..<2 {
                    group.addTask {
                        var unauthorized = 0
                        for index in 0..<5000 {
                            let answer = await harness.receive(slug: slug, secret: wrong, body: #"{"n":\#(index)}"#, id: "msg_\(worker)_\(index)")
                            if answer.status == .unauthorized { unauthorized += 1 }
                        }
                        return unauthorized
                    }
                }
                var total = 0
                for await count in group { total += count }
                #expect(total == 10_000)
            }
            let (rows, counted, minutes) = try await harness.database.withConnection { connection in
                let result = try await connection.query(
                    """
                    SELECT count(*)::int, coalesce(sum(count), 0)::int, count(DISTINCT at)::int FROM audit_events
                    WHERE action = 'webhook_receive' AND outcome = 'rejected' AND detail->>'source' = \(slug)
                    """,
                    logger: harness.logger
                )
                for try await row in result.decode((Int, Int, Int).self) { return row }
                return (0, 0, 0)
            }
            #expect(counted == 10_000)
            // At most one row per shard (four) per minute the flood spanned.
            #expect(rows >= 1 && rows <= 4 * minutes && minutes <= 3, "\(rows) rows over \(minutes) minutes")
        }
    }

    @Test("types a source may not send are recorded as ignored and answered 200; the type comes from type or event_type, never X-Event-Type")
    func ignoredTypes() async throws {
        try await withHarness { harness in
            let (slug, secret) = try await harness.addSource(allow: ["lab.*", "order.paid"])
            #expect(await harness.receive(slug: slug, secret: secret, body: #"{"type":"lab.result"}"#).status == .accepted)
            #expect(await harness.receive(slug: slug, secret: secret, body: #"{"event_type":"order.paid"}"#).status == .accepted)
            // The header is not signed: an untyped body stays untyped, and this source takes no untyped events.
            let header = await harness.receive(slug: slug, secret: secret, body: #"{"x":1}"#, extra: [HTTPField.Name("X-Event-Type")!: "lab.panel"])
            #expect(header.status == .ok)
            #expect(header.json["status"] as? String == "ignored")
            let ignored = await harness.receive(slug: slug, secret: secret, body: #"{"type":"billing.changed"}"#)
            #expect(ignored.status == .ok)
            #expect(ignored.json["status"] as? String == "ignored")
        }
    }

    @Test("hmac-sha256 sources check X-Signature (sha256= allowed) and de-duplicate on the payload id, else the body's hash")
    func hmacScheme() async throws {
        try await withHarness { harness in
            let (slug, secret) = try await harness.addSource(scheme: .hmacSHA256, secret: "shared-secret-of-the-original")
            let body = #"{"id":"evt-77","event_type":"a.b","data":{}}"#
            func post(_ signature: String, _ extra: HTTPFields = [:]) async -> FunctionResponse {
                var headers = extra
                headers[HTTPField.Name("X-Signature")!] = signature
                return await harness.invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/\(slug)", headers: headers, body: Data(body.utf8)))
            }
            let hex = WebhookSignature.hex(body: Data(body.utf8), secret: secret)
            let first = await post("sha256=" + hex)
            #expect(first.status == .accepted)
            #expect(await post(hex).text == first.text)
            #expect(await post(String(repeating: "0", count: 64)).status == .unauthorized)
            #expect(await post("").status == .unauthorized)
            // A numeric payload id de-duplicates too; a type that is not a string gives way to event_type.
            func postBody(_ text: String) async -> FunctionResponse {
                let headers: HTTPFields = [HTTPField.Name("X-Signature")!: WebhookSignature.hex(body: Data(text.utf8), secret: secret)]
                return await harness.invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/\(slug)", headers: headers, body: Data(text.utf8)))
            }
            let numeric = await postBody(#" {"id":42,"type":7,"event_type":"a.b"}"#)
            #expect(numeric.status == .accepted)
            #expect(await postBody(#"{"event_type":"a.b","id":42}"#).text == numeric.text)
            // Any JSON value is an event (de-duplicated on the body's hash); anything else is a 400.
            let array = await postBody("[1,2]")
            #expect(array.status == .accepted)
            #expect(await postBody("[1,2]").text == array.text)
            #expect(await postBody("[1,2").status == .badRequest)
            #expect(await postBody(#"{"id":1,}"#).status == .badRequest)
            let stored = try await harness.database.withConnection { connection in
                var rows: [String] = []
                let query: PostgresQuery = "SELECT message_id || ' ' || coalesce(event_type, '-') FROM webhook_events WHERE source_slug = \(slug) ORDER BY received_at, message_id"
                for try await row in try await connection.query(query, logger: harness.logger).decode(String.self) { rows.append(row) }
                return rows
            }
            #expect(stored.contains("42 a.b") && stored.contains("evt-77 a.b") && stored.count == 3)
        }
    }

    @Test("secret rotation: the previous secret works during the overlap, not after")
    func rotation() async throws {
        try await withHarness { harness in
            let (slug, old) = try await harness.addSource()
            let new = WebhookSignature.newSecret()
            let until = harness.clock.now.addingTimeInterval(3600)
            _ = try await harness.database.withConnection { connection in
                try await WebhookSourceStore(encryption: harness.encryption).rotate(slug: slug, newSecret: new, overlapUntil: until, on: connection, logger: harness.logger)
            }
            #expect(await harness.receive(slug: slug, secret: new, body: "{}").status == .accepted)
            #expect(await harness.receive(slug: slug, secret: old, body: "{}").status == .accepted)
            harness.clock.advance(seconds: 3601)
            #expect(await harness.receive(slug: slug, secret: old, body: "{}").status == .unauthorized)
            #expect(await harness.receive(slug: slug, secret: new, body: "{}").status == .accepted)
        }
    }

    @Test("secrets are stored encrypted with FIELD_ENCRYPTION_KEY; payloads too in REAL_DATA_MODE")
    func encryptedAtRest() async throws {
        try await withHarness(realDataMode: true) { harness in
            let (slug, secret) = try await harness.addSource()
            let marker = "patient-\(UUID())"
            #expect(await harness.receive(slug: slug, secret: secret, body: #"{"type":"x.y","name":"\#(marker)"}"#).status == .accepted)
            let (storedSecret, storedPayload) = try await harness.database.withConnection { connection in
                var secretText = ""
                var payload = Data()
                for try await (text, encrypted) in try await connection.query("SELECT secret, secrets_encrypted FROM webhook_sources WHERE slug = \(slug)", logger: harness.logger).decode((String, Bool).self) {
                    #expect(encrypted)
                    secretText = text
                }
                for try await (data, encrypted) in try await connection.query("SELECT payload, payload_encrypted FROM webhook_events WHERE source_slug = \(slug)", logger: harness.logger).decode((Data, Bool).self) {
                    #expect(encrypted)
                    payload = data
                }
                return (secretText, payload)
            }
            #expect(!storedSecret.contains(secret) && storedSecret.hasPrefix("gAAAAA"))
            #expect(!String(decoding: storedPayload, as: UTF8.self).contains(marker))
            let fernet = try Fernet(key: WebhookHarness.fernetKey)
            #expect(String(decoding: try fernet.decrypt(String(decoding: storedPayload, as: UTF8.self)), as: UTF8.self).contains(marker))
        }
    }

    @Test("unsigned headers decide nothing: a replayed hmac body with fresh ids is one event, X-Event-Type types nothing, repeated keys and hostile types are 400")
    func signedBytesOnly() async throws {
        try await withHarness { harness in
            let secret = "shared-secret-for-replays"
            let (slug, _) = try await harness.addSource(scheme: .hmacSHA256, secret: secret)
            func post(_ body: String, _ extra: [String: String] = [:]) async -> FunctionResponse {
                var headers: HTTPFields = [HTTPField.Name("X-Signature")!: WebhookSignature.hex(body: Data(body.utf8), secret: secret)]
                for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
                return await harness.invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/\(slug)", headers: headers, body: Data(body.utf8)))
            }
            // One captured body, re-sent with fresh unsigned ids: the first answer every time, one row.
            let captured = #"{"type":"order.created","amount":5}"#
            let first = await post(captured, ["X-Event-ID": "evt-1", "X-Event-Type": "admin.delete"])
            #expect(first.status == .accepted)
            #expect(await post(captured, ["X-Event-ID": "evt-2"]).text == first.text)
            #expect(await post(captured, ["webhook-id": "msg_fresh"]).text == first.text)
            // No type in the body: untyped, whatever the header says.
            #expect(await post(#"{"amount":6}"#, ["X-Event-Type": "order.refunded"]).status == .accepted)
            // Which of two "type" keys counts depends on the reader: refused, and nothing stored.
            let twice = await post(#"{"type":"order.created","type":"admin.delete_all"}"#)
            #expect(twice.status == .badRequest)
            #expect(twice.json["code"] as? String == "duplicate_key")
            // A NUL or an oversized type would be a 500 or a row too big: 400.
            #expect(await post(#"{"type":"a\u0000b"}"#).json["code"] as? String == "invalid_event_type")
            #expect(await post(#"{"type":"\#(String(repeating: "t", count: 300))"}"#).json["code"] as? String == "invalid_event_type")
            #expect(await post(#"{"id":"x\u0000y","type":"ok.type"}"#).status == .accepted)

            let rows = try await harness.database.withConnection { connection in
                var rows: [(String, String?, String?)] = []
                let query: PostgresQuery = """
                    SELECT message_id, event_type, unsigned_headers::text FROM webhook_events WHERE source_slug = \(slug) ORDER BY received_at, message_id
                    """
                for try await row in try await connection.query(query, logger: harness.logger).decode((String, String?, String?).self) { rows.append(row) }
                return rows
            }
            #expect(rows.count == 3)
            let replayed = try #require(rows.first { $0.1 == "order.created" })
            #expect(replayed.0.hasPrefix("sha256:"))
            #expect(replayed.2?.contains("admin.delete") == true && replayed.2?.contains("evt-1") == true)
            let untyped = try #require(rows.first { $0.1 == nil })
            #expect(untyped.2?.contains("order.refunded") == true)
            // An id with a control character is no id: the body's hash is.
            #expect(rows.contains { $0.1 == "ok.type" && $0.0.hasPrefix("sha256:") })

            // Published bodies and their data too.
            #expect(await harness.publish(#"{"type":"a.b","type":"c.d","data":{}}"#).json["code"] as? String == "duplicate_key")
            #expect(await harness.publish(#"{"type":"a.b","data":{"x":1,"x":2}}"#).json["code"] as? String == "duplicate_key")
        }
    }
}
