import Domain
import Foundation
public import Logging
public import PostgresNIO

/// `webhook_sources`: incoming partners, secrets stored encrypted when a key is set.
public struct WebhookSourceStore: Sendable {
    let encryption: FieldEncryption

    /// A store using `encryption` for secrets.
    public init(encryption: FieldEncryption) { self.encryption = encryption }

    /// The source with this slug (enabled or not). A prepared statement: `webhook-receive` runs it per request.
    public func find(slug: String, on connection: PostgresConnection, logger: Logger) async throws -> WebhookSource? {
        guard slug.utf8.count <= 100, !slug.utf8.contains(0) else { return nil }
        for try await row in try await connection.execute(FindSourceStatement(slug: slug), logger: logger) {
            return try source(row)
        }
        return nil
    }

    /// What `sources list` shows, read without the secret columns: listing needs no key.
    public struct Listing: Sendable {
        public var id: Int64
        public var slug: String
        public var scheme: WebhookSource.Scheme
        public var allowedEventTypes: [String]
        public var enabled: Bool
    }

    /// Every source, by slug, without its secrets.
    public func listing(on connection: PostgresConnection, logger: Logger) async throws -> [Listing] {
        let rows = try await connection.query(
            "SELECT id, slug, scheme, allowed_event_types, enabled FROM webhook_sources ORDER BY slug", logger: logger
        )
        var listed: [Listing] = []
        for try await (id, slug, scheme, types, enabled) in rows.decode((Int64, String, String, [String], Bool).self) {
            listed.append(Listing(id: id, slug: slug, scheme: WebhookSource.Scheme(rawValue: scheme) ?? .standard, allowedEventTypes: types, enabled: enabled))
        }
        return listed
    }

    /// Adds a source; false when the slug is taken.
    public func add(
        slug: String,
        scheme: WebhookSource.Scheme,
        secret: String,
        allowedEventTypes: [String],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        let sealed = try encryption.sealSecret(secret)
        let rows = try await connection.query(
            """
            INSERT INTO webhook_sources (slug, scheme, secret, secrets_encrypted, allowed_event_types)
            VALUES (\(slug), \(scheme.rawValue), \(sealed.text), \(sealed.encrypted), \(allowedEventTypes))
            ON CONFLICT (slug) DO NOTHING RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// Replaces the secret; the old one keeps working until `overlapUntil`. False when there is no such slug.
    public func rotate(slug: String, newSecret: String, overlapUntil: Date, on connection: PostgresConnection, logger: Logger)
        async throws -> Bool
    {
        guard let source = try await find(slug: slug, on: connection, logger: logger) else { return false }
        let sealedNew = try encryption.sealSecret(newSecret)
        let sealedOld = try encryption.sealSecret(source.secret)
        guard sealedNew.encrypted == sealedOld.encrypted else { return false }
        try await connection.query(
            """
            UPDATE webhook_sources SET secret = \(sealedNew.text), previous_secret = \(sealedOld.text),
                previous_secret_until = \(overlapUntil), secrets_encrypted = \(sealedNew.encrypted)
            WHERE id = \(source.id)
            """,
            logger: logger
        )
        return true
    }

    /// Enables or disables a source. False when there is no such slug.
    public func setEnabled(slug: String, _ enabled: Bool, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query(
            "UPDATE webhook_sources SET enabled = \(enabled) WHERE slug = \(slug) RETURNING id", logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    private func source(_ row: FindSourceStatement.Row) throws -> WebhookSource {
        let (id, slug, scheme, secret, previous, until, encrypted, types, enabled, hasConsumers) = row
        return WebhookSource(
            id: id, slug: slug, scheme: WebhookSource.Scheme(rawValue: scheme) ?? .standard,
            secret: try encryption.openSecret(secret, encrypted: encrypted),
            previousSecret: try previous.map { try encryption.openSecret($0, encrypted: encrypted) },
            previousSecretUntil: until, allowedEventTypes: types, enabled: enabled, hasConsumers: hasConsumers
        )
    }
}

/// One source by slug, its secrets as stored (possibly sealed).
package struct FindSourceStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "FindSourceStatement"
    package static let sql = """
        SELECT s.id, s.slug, s.scheme, s.secret, s.previous_secret, s.previous_secret_until, s.secrets_encrypted, s.allowed_event_types,
            s.enabled, EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.source_id = s.id AND e.enabled)
        FROM webhook_sources s WHERE s.slug = $1
        """
    package static let bindingDataTypes: [PostgresDataType] = [.text]

    package typealias Row = (Int64, String, String, String, String?, Date?, Bool, [String], Bool, Bool)

    var slug: String

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(slug)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
