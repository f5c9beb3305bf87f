import Crypto
import Domain
import Foundation
import Logging
import PostgresNIO

/// The brute-force limit, held in PostgreSQL so it holds across instances.
///
/// Each attempt first reserves a failure row for its username and its client address under transaction
/// advisory locks (taken in a fixed order), after counting the failures in the window; a login that then
/// succeeds deletes its reservation. So N parallel attempts can never hash more than the limit allows.
package enum LoginThrottle {
    /// The outcome of a reservation.
    package enum Reservation {
        /// Go ahead; these failure rows stand unless the login succeeds.
        case reserved(ids: [Int64])
        /// Over the limit: try again after this many seconds.
        case throttled(retryAfter: Int64)
    }

    struct Key {
        let scope: String
        let hash: Data

        /// The name of the transaction advisory lock that serialises this key's attempts.
        var lockName: String { scope + ":" + hash.base64EncodedString() }
    }

    static func keys(username: String, address: String?) -> [Key] {
        var keys = [Key(scope: "username", hash: Data(SHA256.hash(data: Data(username.utf8))))]
        if let address, !address.isEmpty {
            keys.append(Key(scope: "address", hash: Data(SHA256.hash(data: Data(address.utf8)))))
        }
        return keys
    }

    /// Counts and reserves inside the caller's transaction.
    package static func reserve(
        username: String,
        address: String?,
        settings: AuthSettings,
        now: Date,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Reservation {
        let keys = keys(username: username, address: address).sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
        let since = now.addingTimeInterval(-Double(settings.failureWindow))
        for key in keys {
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key.lockName), 0))", logger: logger)
        }
        var retryAfter: Int64 = 0
        for key in keys {
            let offset = settings.maxFailures - 1
            let rows = try await connection.query(
                """
                SELECT at FROM login_failures WHERE scope = \(key.scope) AND key_sha256 = \(key.hash) AND at > \(since)
                ORDER BY at DESC OFFSET \(offset) LIMIT 1
                """,
                logger: logger
            )
            for try await at in rows.decode(Date.self) {
                let wait = Int64((at.timeIntervalSince1970 + Double(settings.failureWindow) - now.timeIntervalSince1970).rounded(.up))
                retryAfter = max(retryAfter, max(wait, 1))
            }
        }
        if retryAfter > 0 { return .throttled(retryAfter: retryAfter) }
        var ids: [Int64] = []
        for key in keys {
            let rows = try await connection.query(
                "INSERT INTO login_failures (scope, key_sha256, at) VALUES (\(key.scope), \(key.hash), \(now)) RETURNING id",
                logger: logger
            )
            for try await id in rows.decode(Int64.self) { ids.append(id) }
        }
        return .reserved(ids: ids)
    }

    /// A successful login: its reservation goes, and so do the username's earlier failures. Under the username's
    /// advisory lock: two logins of one user succeeding at once would otherwise each hold its own reservation row
    /// while deleting the other's, and deadlock.
    package static func release(ids: [Int64], username: String, on connection: PostgresConnection, logger: Logger) async throws {
        let usernameKey = keys(username: username, address: nil)[0]
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(usernameKey.lockName), 0))", logger: logger)
        try await connection.query("DELETE FROM login_failures WHERE id = ANY(\(ids))", logger: logger)
        try await connection.query(
            "DELETE FROM login_failures WHERE scope = 'username' AND key_sha256 = \(usernameKey.hash)",
            logger: logger
        )
    }
}
