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
