import Domain
import Foundation
public import Logging
public import PostgresNIO
import Primitives

/// `webhook_endpoints`: outgoing subscriptions, secrets stored encrypted when a key is set.
public struct WebhookEndpointStore: Sendable {
    let encryption: FieldEncryption

    /// A store using `encryption` for secrets.
    public init(encryption: FieldEncryption) { self.encryption = encryption }

    static let columns = """
        id, url, description, event_types, secret, previous_secret, previous_secret_until, secrets_encrypted, enabled, \
        disabled_reason, failing_since, failure_streak
        """

    /// Adds an endpoint with a new secret, returned once.
    public func add(url: String, eventTypes: [String], description: String, on connection: PostgresConnection, logger: Logger)
        async throws -> (id: UUID, secret: String)
    {
        let id = UUID.random()
        let secret = WebhookSignature.newSecret()
        let sealed = try encryption.sealSecret(secret)
        try await connection.query(
            """
            INSERT INTO webhook_endpoints (id, url, description, event_types, secret, secrets_encrypted)
            VALUES (\(id), \(url), \(description), \(eventTypes), \(sealed.text), \(sealed.encrypted))
            """,
            logger: logger
        )
        return (id, secret)
    }

    /// Every endpoint, oldest first.
    public func all(on connection: PostgresConnection, logger: Logger) async throws -> [WebhookEndpoint] {
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM webhook_endpoints ORDER BY created_at, id"), logger: logger
        )
        return try await decode(rows)
    }

    /// One endpoint.
    public func find(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> WebhookEndpoint? {
        try await find(ids: [id], on: connection, logger: logger).first
    }

    /// The endpoints with these ids (only those rows are read and decrypted).
    public func find(ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [WebhookEndpoint] {
        let rows = try await connection.query(
            "SELECT \(unescaped: Self.columns) FROM webhook_endpoints WHERE id = ANY(\(ids)::uuid[])", logger: logger
        )
        return try await decode(rows)
    }

    /// A new secret (returned once); the old one still signs until `overlapUntil`.
    public func rotate(id: UUID, overlapUntil: Date, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        guard let endpoint = try await find(id: id, on: connection, logger: logger) else { return nil }
        let secret = WebhookSignature.newSecret()
        let sealedNew = try encryption.sealSecret(secret)
        let sealedOld = try encryption.sealSecret(endpoint.secret)
        try await connection.query(
            """
            UPDATE webhook_endpoints SET secret = \(sealedNew.text), previous_secret = \(sealedOld.text),
                previous_secret_until = \(overlapUntil), secrets_encrypted = \(sealedNew.encrypted)
            WHERE id = \(id)
            """,
            logger: logger
        )
        return secret
    }

    /// Enables (clearing the failure streak) or disables with a reason. False when there is no such endpoint.
    public func setEnabled(id: UUID, _ enabled: Bool, reason: String?, now: Date, on connection: PostgresConnection, logger: Logger)
        async throws -> Bool
    {
        let rows = try await connection.query(
            """
            UPDATE webhook_endpoints SET enabled = \(enabled), disabled_reason = \(enabled ? nil : reason),
                disabled_at = \(enabled ? nil : now), failing_since = NULL, failure_streak = 0
            WHERE id = \(id) RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    func decode(_ rows: PostgresRowSequence) async throws -> [WebhookEndpoint] {
        var endpoints: [WebhookEndpoint] = []
        for try await row in rows {
            let (id, url, description, types, secret, previous, until, encrypted, enabled, reason, failing, streak) = try row.decode(
                (UUID, String, String, [String], String, String?, Date?, Bool, Bool, String?, Date?, Int).self
            )
            endpoints.append(
                WebhookEndpoint(
                    id: id, url: url, description: description, eventTypes: types,
                    secret: try encryption.openSecret(secret, encrypted: encrypted),
                    previousSecret: try previous.map { try encryption.openSecret($0, encrypted: encrypted) },
                    previousSecretUntil: until, enabled: enabled, disabledReason: reason, failingSince: failing, failureStreak: streak
                )
            )
        }
        return endpoints
    }
}
