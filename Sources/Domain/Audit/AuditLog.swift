import Foundation
public import Logging
public import PostgresNIO

/// One entry of the audit trail: who did what, when, from where. Never a password or a token.
public struct AuditEvent: Sendable, Equatable {
    /// What happened, for example `login`, `refresh`, `refresh_reuse`, `revoke`, `user_create`.
    public var action: String
    /// How it ended, for example `success`, `failure`, `throttled`.
    public var outcome: String
    /// The user concerned, when known.
    public var userID: Int64?
    /// The username given or concerned (cut to 150 characters, Django's maximum).
    public var username: String?
    /// Who acted, for admin commands (the operating-system user).
    public var actor: String?
    /// The request id, for correlation with the logs.
    public var requestID: String?
    /// The client address.
    public var clientAddress: String?
    /// Extra facts: approved keys and non-sensitive values only.
    public var detail: [String: String]

    /// Creates an event.
    public init(
        action: String,
        outcome: String,
        userID: Int64? = nil,
        username: String? = nil,
        actor: String? = nil,
        requestID: String? = nil,
        clientAddress: String? = nil,
        detail: [String: String] = [:]
    ) {
        self.action = action
        self.outcome = outcome
        self.userID = userID
        // PostgreSQL text cannot hold NUL; hostile input must still be recorded.
        self.username = username.map { String($0.replacingOccurrences(of: "\u{0}", with: "").prefix(150)) }
        self.actor = actor
        self.requestID = requestID
        self.clientAddress = clientAddress.map { String($0.replacingOccurrences(of: "\u{0}", with: "").prefix(64)) }
        self.detail = detail
    }
}

/// Writes audit events inside the caller's transaction, so the record and the change commit together.
public enum AuditLog {
    /// Records `event` at `time`.
    public static func record(_ event: AuditEvent, at time: Date, on connection: PostgresConnection, logger: Logger) async throws {
        let detail = String(decoding: try JSONEncoder().encode(event.detail), as: UTF8.self)
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
