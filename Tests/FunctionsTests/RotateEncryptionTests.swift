import Domain
import Foundation
import PostgresNIO
import Store
import Testing
import TestSupport

/// `functions rotate-encryption` on a real database, its results opened by Python's `cryptography`.
@Suite("functions rotate-encryption", .machineShare, .serialized)
struct RotateEncryptionTests {
    static let older = WebhookHarness.fernetKey
    static let newer = "lJnyT5AtBInx2qUGz_3Fl2fXTYRZkwddZPHiwV_9oXw="
    static let made = Date(timeIntervalSince1970: 1_700_000_000)

    func run(_ arguments: [String], keys: String, configuration: DatabaseConfiguration) async throws -> (Int32, String) {
        let process = try ChildProcess(
            product: "functions", arguments: arguments,
            environment: [
                "DATABASE_URL": configuration.url, "FIELD_ENCRYPTION_KEYS": keys, "REAL_DATA_MODE": "true",
                // Real-data mode refuses the console email backend, for every command alike.
                "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend", "MAILGUN_API_KEY": "k", "MAILGUN_DOMAIN": "mg.example.org",
            ]
        )
        return (try await process.waitForExit(), process.text)
    }

    /// Every (table, key, column, token) of the encrypted columns, and the rows still in clear.
    func stored(_ database: Database) async throws -> (tokens: [(String, String, String, String)], clear: Int) {
        try await database.withConnection { connection in
            var tokens: [(String, String, String, String)] = []
            var clear = 0
            for group in EncryptedColumns.all {
                for column in group.columns {
                    let value = column.bytes ? "convert_from(\(column.name), 'UTF8')" : column.name
                    let rows = try await connection.query(
                        PostgresQuery(unsafeSQL: "SELECT \(group.keyText), \(group.flag), \(value) FROM \(group.table) WHERE \(column.name) IS NOT NULL"),
                        logger: TestDatabase.quietLogger
                    )
                    for try await (id, encrypted, token) in rows.decode((String, Bool, String).self) {
                        if encrypted { tokens.append((group.table, id, column.name, token)) } else { clear += 1 }
                    }
                }
            }
            return (tokens, clear)
        }
    }

    @Test("every encrypted column moves to the newest key with its time kept, Python opens them all, clear rows are sealed, an unknown key's row is reported; a second run writes nothing")
    func rotation() async throws {
        let configuration = try await TestDatabase.configuration(suite: "rotate-encryption")
        let old = try Fernet(key: Self.older)
        let stranger = try Fernet(key: Fernet.generateKey())
        let seal = { (text: String) in try old.encrypt(Data(text.utf8), at: Self.made) }
        let sourceSecret = try seal("whsec_source"), previous = try seal("whsec_previous"), endpointSecret = try seal("whsec_endpoint")
        let payload = try seal(#"{"patient":"p-1"}"#), answer = try seal("patient p-1 received")
        let fields = try seal(#"{"subject":"p-1","recipients":["ops@example.com"],"links":[]}"#), strangers = try stranger.encrypt("whsec_lost")
        try await TestDatabase.with(suite: "rotate-encryption") { database in
            try await database.withConnection { connection in
                let logger = TestDatabase.quietLogger
                try await connection.query(
                    """
                    INSERT INTO webhook_sources (slug, scheme, secret, previous_secret, previous_secret_until, secrets_encrypted) VALUES
                        ('sealed', 'standard', \(sourceSecret), \(previous), now(), true),
                        ('clear', 'standard', 'whsec_in_clear', NULL, NULL, false),
                        ('lost', 'standard', \(strangers), NULL, NULL, true)
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO webhook_endpoints (id, url, event_types, secret, secrets_encrypted)
                    VALUES (gen_random_uuid(), 'https://example.com/hook', '{a.*}', \(endpointSecret), true)
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO webhook_events (id, source_id, source_slug, message_id, status, payload, payload_encrypted, received_at, response_status, response_body)
                    SELECT gen_random_uuid(), id, slug, 'm-' || slug, 'accepted', convert_to(\(payload), 'UTF8'), true, now(), 200, '{}'
                    FROM webhook_sources WHERE slug = 'sealed'
                    UNION ALL
                    SELECT gen_random_uuid(), id, slug, 'm-clear', 'accepted', '\\x7b7d'::bytea, false, now(), 200, '{}' FROM webhook_sources WHERE slug = 'clear'
                    """,
                    logger: logger
                )
                // More messages than one batch holds, so the keyset walks several.
                try await connection.query(
                    """
                    INSERT INTO webhook_messages (id, event_type, payload, payload_encrypted, response, created_at)
                    SELECT gen_random_uuid(), 'a.x', convert_to(\(payload), 'UTF8'), true, '{}', now() FROM generate_series(1, 1200)
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO alerts (id, alert_type, severity, subject, message, message_encrypted, recipients, created_at, sealed_fields, fields_encrypted)
                    VALUES (gen_random_uuid(), 'lab', 'info', '', convert_to(\(payload), 'UTF8'), true, '{}', now(), convert_to(\(fields), 'UTF8'), true)
                    """,
                    logger: logger
                )
                // A partner's answer and a provider's error: one under the old key, one in clear (sealed in place).
                try await connection.query(
                    """
                    WITH m AS (SELECT id FROM webhook_messages LIMIT 1), e AS (SELECT id FROM webhook_endpoints LIMIT 1),
                    d AS (
                        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at)
                        SELECT gen_random_uuid(), m.id, e.id, 'failed', 2, now(), now() FROM m, e RETURNING id
                    )
                    INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, response_encrypted)
                    SELECT d.id, 1, now(), 5, 500, \(answer), true FROM d
                    UNION ALL SELECT d.id, 2, now(), 5, 500, 'patient p-1 not found', false FROM d
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    WITH a AS (SELECT id FROM alerts LIMIT 1), s AS (
                        INSERT INTO alert_sends (id, alert_id, channel, status, attempts, next_attempt_at, created_at, last_error, last_error_encrypted)
                        SELECT gen_random_uuid(), a.id, 'email', 'failed', 1, now(), now(), \(answer), true FROM a RETURNING id
                    )
                    INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms, error, error_encrypted)
                    SELECT s.id, 1, now(), 5, 'HTTP 400: bad address p1@example.com', false FROM s
                    """,
                    logger: logger
                )
            }
        }
        let keys = "\(Self.newer), \(Self.older)"
        let first = try await run(["rotate-encryption", "--batch", "500"], keys: keys, configuration: configuration)
        #expect(first.0 == 1, "\(first.1)")
        #expect(first.1.contains("webhook_sources(secret, previous_secret): 3 scanned, 1 re-encrypted, 1 encrypted from clear, 1 unreadable"), "\(first.1)")
        #expect(first.1.contains("webhook_messages(payload): 1200 scanned, 1200 re-encrypted, 0 encrypted from clear, 0 unreadable"), "\(first.1)")
        #expect(first.1.contains("webhook_events(payload): 2 scanned, 1 re-encrypted, 1 encrypted from clear"), "\(first.1)")
        #expect(first.1.contains("alerts(message): 1 scanned, 1 re-encrypted"), "\(first.1)")
        #expect(first.1.contains("alerts(sealed_fields): 1 scanned, 1 re-encrypted"), "\(first.1)")
        #expect(first.1.contains("webhook_attempts(response_body): 2 scanned, 1 re-encrypted, 1 encrypted from clear"), "\(first.1)")
        #expect(first.1.contains("alert_send_attempts(error): 1 scanned, 0 re-encrypted, 1 encrypted from clear"), "\(first.1)")
        #expect(first.1.contains("unreadable: webhook_sources ") && first.1.contains("1 rows hold tokens no key"), "\(first.1)")
        #expect(!first.1.contains("whsec_") && !first.1.contains("patient") && !first.1.contains("p1@"))

        try await TestDatabase.with(suite: "rotate-encryption") { database in
            let (tokens, clear) = try await stored(database)
            #expect(clear == 0)
            let newest = try Fernet(key: Self.newer)
            let sealedBefore: Set = [
                "whsec_source", "whsec_previous", "whsec_endpoint", #"{"patient":"p-1"}"#, "patient p-1 received",
                #"{"subject":"p-1","recipients":["ops@example.com"],"links":[]}"#,
            ]
            var opened: [String: String] = [:]
            for (table, id, column, token) in tokens where token != strangers {
                let (plaintext, time) = try newest.open(token)
                opened["\(table).\(column)", default: ""] = String(decoding: plaintext, as: UTF8.self)
                // Rotated tokens keep the time they were made at (sealed-from-clear ones are made now).
                if sealedBefore.contains(String(decoding: plaintext, as: UTF8.self)) {
                    #expect(time == Self.made, "\(table) \(id) \(column) lost its time")
                }
            }
            #expect(opened["webhook_endpoints.secret"] == "whsec_endpoint")
            #expect(opened["alerts.message"] == #"{"patient":"p-1"}"#)
            #expect(opened["alerts.sealed_fields"]?.contains("ops@example.com") == true)
            #expect(opened["alert_sends.last_error"] == "patient p-1 received")
            #expect(opened["alert_send_attempts.error"] == "HTTP 400: bad address p1@example.com")
            #expect(tokens.contains { $0.3 == strangers })
            // Sources: two sealed, one from clear, the lost one; the endpoint; two events; the messages; two attempts'
            // answers; the alert's message and fields; a send's error and its attempt's.
            let expected = 4 + 1 + 2 + 1200 + 2 + 2 + 1 + 1
            #expect(tokens.count == expected)
            // Python's cryptography opens every token with the newest key alone.
            let script = """
                import sys
                from cryptography.fernet import Fernet, MultiFernet
                f = MultiFernet([Fernet(sys.argv[1])])
                n = 0
                for line in sys.stdin:
                    f.decrypt(line.strip().encode()); n += 1
                print(n)
                """
            let input = tokens.filter { $0.3 != strangers }.map(\.3).joined(separator: "\n") + "\n"
            let (status, output) = try await Python.run(script, arguments: [Self.newer], input: input)
            #expect(status == 0 && output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(tokens.count - 1)", "\(output)")
        }

        // Again: everything is current, nothing is written; the lost row is still reported.
        let second = try await run(["rotate-encryption"], keys: keys, configuration: configuration)
        #expect(second.0 == 1 && second.1.contains("webhook_messages(payload): 1200 scanned, 0 re-encrypted, 0 encrypted from clear, 0 unreadable"), "\(second.1)")
        // Without a key there is nothing to rotate to.
        let keyless = try ChildProcess(product: "functions", arguments: ["rotate-encryption"], environment: ["DATABASE_URL": configuration.url])
        #expect(try await keyless.waitForExit() == 1 && keyless.text.contains("FIELD_ENCRYPTION_KEYS"))
        try await TestDatabase.with(suite: "rotate-encryption") { database in
            try await database.withConnection { connection in
                try await connection.query("DELETE FROM webhook_sources WHERE slug = 'lost'", logger: TestDatabase.quietLogger)
            }
        }
        #expect(try await run(["rotate-encryption"], keys: Self.newer, configuration: configuration).0 == 0)
    }
}
