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

    /// The columns an endpoint is read from, each prefixed with `alias.` when one is given.
    static func columns(as alias: String? = nil) -> String {
        [
            "id", "url", "description", "event_types", "secret", "previous_secret", "previous_secret_until", "secrets_encrypted", "enabled",
            "disabled_reason", "failing_since", "failure_streak", "id_token_audience", "source_id",
        ].map { (alias.map { $0 + "." } ?? "") + $0 }.joined(separator: ", ")
    }

    /// Adds an endpoint with a new secret, returned once: a subscriber of published events, or with `sourceID` a
    /// consumer of that source's received events. With `idTokenAudience` its requests carry a Google ID token.
    public func add(
        url: String, eventTypes: [String], description: String, sourceID: Int64? = nil, idTokenAudience: String? = nil,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (id: UUID, secret: String) {
        let id = UUID.random()
        let secret = WebhookSignature.newSecret()
        let sealed = try encryption.sealSecret(secret)
        try await connection.query(
            """
            INSERT INTO webhook_endpoints (id, url, description, event_types, secret, secrets_encrypted, source_id, id_token_audience)
            VALUES (\(id), \(url), \(description), \(eventTypes), \(sealed.text), \(sealed.encrypted), \(sourceID), \(idTokenAudience))
            """,
            logger: logger
        )
        return (id, secret)
    }

    /// What `endpoints list` and `consumers list` show, read without the secret columns: listing needs no key.
    public struct Listing: Sendable {
        public var id: UUID
        public var url: String
        public var eventTypes: [String]
        public var enabled: Bool
        public var disabledReason: String?
        public var failureStreak: Int
        public var idTokenAudience: String?
        public var sourceID: Int64?
    }

    /// Every endpoint, oldest first, without its secrets.
    public func listing(on connection: PostgresConnection, logger: Logger) async throws -> [Listing] {
        let rows = try await connection.query(
            """
            SELECT id, url, event_types, enabled, disabled_reason, failure_streak, id_token_audience, source_id
            FROM webhook_endpoints ORDER BY created_at, id
            """,
            logger: logger
        )
        var listed: [Listing] = []
        for try await (id, url, types, enabled, reason, streak, audience, source) in rows.decode(
            (UUID, String, [String], Bool, String?, Int, String?, Int64?).self
        ) {
            listed.append(Listing(
                id: id, url: url, eventTypes: types, enabled: enabled, disabledReason: reason, failureStreak: streak,
                idTokenAudience: audience, sourceID: source
            ))
        }
        return listed
    }

    /// The enabled consumers of source `sourceID` whose filters take `type` (`*` takes untyped events too): the
    /// same rule the receive statement applies.
    public func consumers(of sourceID: Int64, type: String?, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        let rows = try await connection.query(
            "SELECT id, event_types FROM webhook_endpoints WHERE enabled AND source_id = \(sourceID) ORDER BY created_at, id", logger: logger
        )
        var ids: [UUID] = []
        for try await (id, filters) in rows.decode((UUID, [String]).self) where filters.contains("*") || type.map({ EventTypeFilter.matches($0, filters: filters) }) == true {
            ids.append(id)
        }
        return ids
    }

    /// One endpoint.
    public func find(id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> WebhookEndpoint? {
        try await find(ids: [id], on: connection, logger: logger).first
    }

    /// The endpoints with these ids (only those rows are read and decrypted).
    public func find(ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [WebhookEndpoint] {
        let rows = try await connection.query(
            "SELECT \(unescaped: Self.columns()) FROM webhook_endpoints WHERE id = ANY(\(ids)::uuid[])", logger: logger
        )
        return try await decode(rows)
    }

    /// The endpoints with these ids, each with its secrets opened or ``DeliveryFailure/undecryptableSecret``: for
    /// sending, where one bad row must fail only its own deliveries.
    public func forSending(ids: [UUID], on connection: PostgresConnection, logger: Logger) async throws -> [UUID: Result<WebhookEndpoint, DeliveryFailure>] {
        let rows = try await connection.query(
            "SELECT \(unescaped: Self.columns()) FROM webhook_endpoints WHERE id = ANY(\(Array(Set(ids)))::uuid[])", logger: logger
        )
        var found: [UUID: Result<WebhookEndpoint, DeliveryFailure>] = [:]
        for try await row in rows {
            let (id, endpoint) = try Self.endpoint(from: row, skipping: 0, encryption: encryption)
            found[id] = endpoint
        }
        return found
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

    /// The endpoint in `row`'s columns after the first `skipping` (as ``columns(as:)`` lists them): its id, and the
    /// endpoint or ``DeliveryFailure/undecryptableSecret`` when its secrets cannot be opened.
    static func endpoint(from row: PostgresRow, skipping offset: Int, encryption: FieldEncryption) throws
        -> (UUID, Result<WebhookEndpoint, DeliveryFailure>)
    {
        let columns = PostgresRandomAccessRow(row)
        func value<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try columns[offset + index].decode(T.self) }
        let id = try value(0, UUID.self)
        let (sealed, sealedPrevious, encrypted) = (try value(4, String.self), try value(5, String?.self), try value(7, Bool.self))
        let secret: String
        let previous: String?
        do {
            secret = try encryption.openSecret(sealed, encrypted: encrypted)
            previous = try sealedPrevious.map { try encryption.openSecret($0, encrypted: encrypted) }
        } catch {
            return (id, .failure(.undecryptableSecret))
        }
        return (
            id,
            .success(
                WebhookEndpoint(
                    id: id, url: try value(1, String.self), description: try value(2, String.self), eventTypes: try value(3, [String].self),
                    secret: secret, previousSecret: previous, previousSecretUntil: try value(6, Date?.self), enabled: try value(8, Bool.self),
                    disabledReason: try value(9, String?.self), failingSince: try value(10, Date?.self), failureStreak: try value(11, Int.self),
                    idTokenAudience: try value(12, String?.self), sourceID: try value(13, Int64?.self)
                )
            )
        )
    }

    func decode(_ rows: PostgresRowSequence) async throws -> [WebhookEndpoint] {
        var endpoints: [WebhookEndpoint] = []
        for try await row in rows {
            switch try Self.endpoint(from: row, skipping: 0, encryption: encryption).1 {
            case .success(let endpoint): endpoints.append(endpoint)
            case .failure: throw Fernet.Failure.invalidKey
            }
        }
        return endpoints
    }
}
