import Domain
import Foundation
import Logging
import PostgresNIO

/// The brute-force limits (``LoginLimits``), held in PostgreSQL so they hold across instances.
///
/// Each attempt first reserves a failure row for each of its counters (username and address together, the
/// address, the username) under transaction advisory locks taken in a fixed order, after counting each
/// counter's failures in the window; a login that then succeeds deletes its reservation. So N parallel attempts
/// can never hash more than the limits allow.
package enum LoginThrottle {
    /// The outcome of a reservation.
    package enum Reservation {
        /// Go ahead; these failure rows stand unless the login succeeds.
        case reserved(ids: [Int64])
        /// Over a limit: try again after this many seconds.
        case throttled(retryAfter: Int64)
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
        let keys = LoginLimits.keys(username: username, address: address, settings: settings)
            .sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
        let since = now.addingTimeInterval(-Double(settings.failureWindow))
        for key in keys {
            try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(key.lockName), 0))", logger: logger)
        }
        var retryAfter: Int64 = 0
        for key in keys {
            // The failure that, leaving the window, frees a place under this counter's limit.
            let rows = try await connection.query(
                """
                SELECT at FROM login_failures WHERE scope = \(key.scope) AND key_sha256 = \(key.hash) AND at > \(since)
                ORDER BY at DESC OFFSET \(key.maxFailures - 1) LIMIT 1
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

    /// A successful login: its reservation goes, and so do the earlier failures of this username from this
    /// address (whoever is there knows the password). Failures counted across addresses or usernames stay: a
    /// success from one place does not forgive what was tried from others. Under the pair's advisory lock: two
    /// logins of one user from one place succeeding at once would otherwise each delete the other's rows, and
    /// deadlock.
    package static func release(
        ids: [Int64], username: String, address: String?, settings: AuthSettings, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let pair = LoginLimits.keys(username: username, address: address, settings: settings)[0]
        try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(pair.lockName), 0))", logger: logger)
        try await connection.query("DELETE FROM login_failures WHERE id = ANY(\(ids))", logger: logger)
        try await connection.query(
            "DELETE FROM login_failures WHERE scope = \(pair.scope) AND key_sha256 = \(pair.hash)",
            logger: logger
        )
    }
}
