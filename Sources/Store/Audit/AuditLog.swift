import Domain
import Foundation
import Primitives
public import Logging
public import PostgresNIO

/// Writes audit events inside the caller's transaction, so the record and the change commit together.
public enum AuditLog {
    /// Records `event` at `time`.
    public static func record(_ event: AuditEvent, at time: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let detail = String(decoding: try JSONEncoder.stable.encode(event.detail), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO audit_events (at, action, outcome, user_id, username, actor, request_id, client_address, detail)
            VALUES (\(time), \(event.action), \(event.outcome), \(event.userID), \(event.username), \(event.actor),
                    \(event.requestID), \(event.clientAddress), \(detail)::jsonb)
            """,
            logger: logger
        )
        line(event, logger: logger)
    }

    /// The log line of an audit record, which the audit sink routes to the long-kept bucket (`jsonPayload.audit`):
    /// what happened and to whom by id, never a name, address or detail (the row holds those).
    static func line(_ event: AuditEvent, counted: Bool = false, logger: Logger) {
        var metadata: Logger.Metadata = ["audit": "true", "action": "\(event.action)", "outcome": "\(event.outcome)"]
        if let user = event.userID { metadata["user_id"] = "\(user)" }
        if counted { metadata["counted"] = "per minute from here" }
        logger.notice("audit", metadata: metadata)
    }

    /// The width of a refusal's bucket.
    public static let refusalBucket: TimeInterval = 60
    /// Rows one bucket is spread over, so that a flood's writes do not all wait on one row.
    static let refusalShards = 4

    /// Counts an unauthenticated refusal (a bad signature, a throttled login) in the row for its minute, action,
    /// outcome and `source` (a webhook source, a client address): anyone can send these, so a flood adds a few
    /// rows a minute, not one per request. The row keeps the first request's id and `event.detail`.
    public static func countRefusal(_ event: AuditEvent, source: String, at time: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let minute = (time.timeIntervalSince1970 / refusalBucket).rounded(.down) * refusalBucket
        let start = Date(timeIntervalSince1970: minute)
        let shard = Int.random(in: 0..<refusalShards)
        let key = String(decoding: try JSONEncoder.stable.encode([event.action, event.outcome, source, String(Int64(minute)), String(shard)]), as: UTF8.self)
        let detail = String(decoding: try JSONEncoder.stable.encode(event.detail), as: UTF8.self)
        let rows = try await connection.query(
            """
            INSERT INTO audit_events (at, action, outcome, request_id, client_address, detail, count, last_at, bucket)
            VALUES (\(start), \(event.action), \(event.outcome), \(event.requestID), \(event.clientAddress), \(detail)::jsonb, 1, \(time), \(key))
            ON CONFLICT (bucket) WHERE bucket IS NOT NULL
            DO UPDATE SET count = audit_events.count + 1, last_at = greatest(audit_events.last_at, EXCLUDED.last_at)
            RETURNING count
            """,
            logger: logger
        )
        // One line per counted row, when it is made: a flood is a few lines, as it is a few rows.
        for try await count in rows.decode(Int.self) where count == 1 { line(event, counted: true, logger: logger) }
    }

    /// The most recent events, newest first (for tests and operators).
    public static func recent(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [AuditEvent] {
        let rows = try await connection.query(
            """
            SELECT action, outcome, user_id, username, actor, request_id, client_address, detail::text
            FROM audit_events ORDER BY id DESC LIMIT \(limit)
            """,
            logger: logger
        )
        var events: [AuditEvent] = []
        for try await (action, outcome, userID, username, actor, requestID, address, detail) in rows.decode(
            (String, String, Int64?, String?, String?, String?, String?, String).self
        ) {
            let parsed = (try? JSONDecoder().decode([String: String].self, from: Data(detail.utf8))) ?? [:]
            events.append(
                AuditEvent(
                    action: action, outcome: outcome, userID: userID, username: username, actor: actor,
                    requestID: requestID, clientAddress: address, detail: parsed
                )
            )
        }
        return events
    }
}
