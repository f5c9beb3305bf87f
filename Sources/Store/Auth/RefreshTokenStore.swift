import Crypto
import Domain
import Foundation
import Logging
import PostgresNIO
import Primitives

/// Refresh tokens by id and SHA-256 (never in clear), grouped in families that rotation extends and reuse
/// revokes (RFC 9700 §4.14.2).
package enum RefreshTokenStore {
    static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    package static func createFamily(
        userID: Int64,
        origin: String,
        now: Date,
        expiresAt: Date,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> UUID {
        let id = UUID.random()
        try await connection.query(
            """
            INSERT INTO refresh_token_families (id, user_id, origin, created_at, expires_at)
            VALUES (\(id), \(userID), \(origin), \(now), \(expiresAt))
            """,
            logger: logger
        )
        return id
    }

    /// Records an issued token (or, with `usedAt`, a legacy token accepted once).
    package static func insert(
        jti: String,
        familyID: UUID,
        token: String,
        issuedAt: Date,
        expiresAt: Date,
        usedAt: Date? = nil,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        let rows = try await connection.query(
            """
            INSERT INTO refresh_tokens (jti, family_id, token_sha256, issued_at, expires_at, used_at)
            VALUES (\(jti), \(familyID), \(digest(token)), \(issuedAt), \(expiresAt), \(usedAt))
            ON CONFLICT (jti) DO NOTHING RETURNING 1
            """,
            logger: logger
        )
        for try await _ in rows { return true }
        return false
    }

    /// What a presented, validly signed refresh token is, when the rotation's fast path did not match.
    package enum State {
        /// Never seen: issued by the replaced system.
        case unknown
        /// Used before (or presented twice at once): reuse.
        case used(family: UUID)
        /// Its family was revoked.
        case revoked
        /// Its family passed its absolute lifetime.
        case familyExpired
        /// The user is inactive or gone.
        case userInactive(family: UUID)
        /// Stored under this id but with other content.
        case mismatch
        /// Issued, not used, its family open and its user active.
        case current(family: UUID)
    }

    /// Where a presented, validly signed refresh token stands. With `lock` (the refresh's slow path) its row stays
    /// locked until the transaction ends, so the answer holds; without (verify), nothing is locked or changed.
    package static func state(
        jti: String, token: String, now: Date, lock: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws -> State {
        let select: PostgresQuery = """
            SELECT t.family_id, t.token_sha256, t.used_at IS NOT NULL, f.revoked_at IS NOT NULL, f.expires_at <= \(now),
                   coalesce(u.is_active, false)
            FROM refresh_tokens t
            JOIN refresh_token_families f ON f.id = t.family_id
            LEFT JOIN users u ON u.id = f.user_id
            WHERE t.jti = \(jti)
            """
        var query = select
        if lock { query.sql += " FOR UPDATE OF t" }
        let rows = try await connection.query(query, logger: logger)
        for try await (family, hash, used, revoked, expired, active) in rows.decode((UUID, Data, Bool, Bool, Bool, Bool).self) {
            if !ConstantTime.equals(Array(hash), Array(digest(token))) { return .mismatch }
            if revoked { return .revoked }
            if used { return .used(family: family) }
            if expired { return .familyExpired }
            if !active { return .userInactive(family: family) }
            return .current(family: family)
        }
        return .unknown
    }

    /// The hot path of a refresh: ``RotateStatement``, prepared once per connection, one round trip.
    package static func rotate(
        jti: String,
        token: String,
        successorJTI: String,
        successor: String,
        successorExpiresAt: Date,
        now: Date,
        requestID: String?,
        clientAddress: String?,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> (family: UUID, userID: Int64)? {
        let statement = RotateStatement(
            jti: jti, tokenDigest: digest(token), successorJTI: successorJTI, successorDigest: digest(successor),
            successorExpiresAt: successorExpiresAt, now: now, requestID: requestID, clientAddress: clientAddress,
            shard: Counters.randomShard()
        )
        for try await row in try await connection.execute(statement, logger: logger) {
            AuditLog.line(AuditEvent(action: "refresh", outcome: "success", userID: row.1), logger: logger)
            return row
        }
        return nil
    }

    /// Revokes a whole family.
    package static func revokeFamily(_ id: UUID, reason: String, now: Date, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE refresh_token_families SET revoked_at = \(now), revoked_reason = \(reason) WHERE id = \(id) AND revoked_at IS NULL",
            logger: logger
        )
    }

    /// True when the replaced system's simplejwt blacklist (same database) lists `jti`.
    package static func legacyBlacklisted(jti: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let present = try await connection.query(
            """
            SELECT to_regclass('token_blacklist_outstandingtoken') IS NOT NULL
               AND to_regclass('token_blacklist_blacklistedtoken') IS NOT NULL
            """,
            logger: logger
        )
        var tablesExist = false
        for try await exists in present.decode(Bool.self) { tablesExist = exists }
        guard tablesExist else { return false }
        let rows = try await connection.query(
            """
            SELECT EXISTS (
                SELECT 1 FROM token_blacklist_blacklistedtoken b
                JOIN token_blacklist_outstandingtoken o ON o.id = b.token_id
                WHERE o.jti = \(jti)
            )
            """,
            logger: logger
        )
        for try await listed in rows.decode(Bool.self) { return listed }
        return false
    }

    /// How long a token row outlives its JWT's `exp` (an hour): instances' clocks differ, and one running behind
    /// still takes the token as unexpired; without its row it would look like a token of the replaced system and
    /// be accepted once more.
    package static let pruneGrace: TimeInterval = 3600

    /// Deletes a bounded batch of expired tokens, families and failures. A token row lives as long as its JWT's
    /// `exp` and ``pruneGrace`` more: before that the row must stay, or a replay would look like a token of the
    /// replaced system; after it every instance's signature check refuses the token anyway.
    package static func prune(now: Date, failureWindow: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        let expiredBefore = now.addingTimeInterval(-pruneGrace)
        try await connection.query(
            "DELETE FROM refresh_tokens WHERE ctid IN (SELECT ctid FROM refresh_tokens WHERE expires_at < \(expiredBefore) LIMIT 1000)",
            logger: logger
        )
        try await connection.query(
            """
            DELETE FROM refresh_token_families WHERE id IN (
                SELECT id FROM refresh_token_families f WHERE f.expires_at < \(expiredBefore)
                AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id) LIMIT 1000)
            """,
            logger: logger
        )
        let since = now.addingTimeInterval(-Double(failureWindow))
        try await connection.query(
            "DELETE FROM login_failures WHERE ctid IN (SELECT ctid FROM login_failures WHERE at < \(since) LIMIT 1000)",
            logger: logger
        )
    }
}
