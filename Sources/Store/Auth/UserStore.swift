import Domain
import Foundation
public import Logging
public import PostgresNIO

/// Reads and writes `users`. Every statement binds its values; nothing is concatenated into SQL.
public enum UserStore {
    /// The columns ``first(_:)`` decodes, in its order; every query that returns users selects exactly these.
    static let columns = "id, username, email, password, is_active, is_staff, date_joined, last_login, sessions_revoked_at"

    /// The user with exactly this username.
    public static func find(username: String, on connection: PostgresConnection, logger: Logger) async throws -> User? {
        // Django caps usernames at 150 characters, and PostgreSQL text cannot hold NUL: no such user exists.
        guard username.utf8.count <= 150, !username.contains("\u{0}") else { return nil }
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM users WHERE username = \(username)",
            logger: logger
        )
        return try await first(rows)
    }

    /// The user with this id.
    public static func find(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> User? {
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM users WHERE id = \(id)",
            logger: logger
        )
        return try await first(rows)
    }

    /// Creates a user; throws ``AuthError/usernameTaken`` when the name exists.
    public static func create(
        username: String,
        email: String,
        passwordHash: String,
        isStaff: Bool,
        now: Date,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> User {
        let rows = try await connection.query(
            """
            INSERT INTO users (username, email, password, is_staff, date_joined) VALUES (\(username), \(email), \(passwordHash), \(isStaff), \(now))
            ON CONFLICT (username) DO NOTHING
            RETURNING \(unescaped: columns)
            """,
            logger: logger
        )
        guard let user = try await first(rows) else { throw AuthError.usernameTaken }
        return user
    }

    /// Replaces the password hash and ends the user's sessions as of `now` (see ``endSessions(userID:reason:now:on:logger:)``).
    public static func setPassword(id: Int64, hash: String, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query("UPDATE users SET password = \(hash) WHERE id = \(id)", logger: logger)
        return try await endSessions(userID: id, reason: "password_changed", now: now, on: connection, logger: logger)
    }

    /// Ends every session of a user: revokes their open token families and refuses, from now on, tokens issued
    /// before `now` (the replaced system's among them, which no family holds). Returns the families revoked.
    public static func endSessions(userID: Int64, reason: String, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        try await connection.query("UPDATE users SET sessions_revoked_at = \(now) WHERE id = \(userID)", logger: logger)
        let rows = try await connection.query(
            """
            UPDATE refresh_token_families SET revoked_at = \(now), revoked_reason = \(reason)
            WHERE user_id = \(userID) AND revoked_at IS NULL RETURNING 1
            """,
            logger: logger
        )
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    /// Sets the active flag; returns the user changed, nil when there is no such username.
    public static func setActive(
        username: String,
        _ active: Bool,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> User? {
        let rows = try await connection.query(
            """
            UPDATE users SET is_active = \(active) WHERE username = \(username)
            RETURNING \(unescaped: columns)
            """,
            logger: logger
        )
        return try await first(rows)
    }

    /// Records a successful login, and a new hash when the stored one used another iteration count.
    public static func recordLogin(id: Int64, at time: Date, newHash: String?, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        if let newHash {
            try await connection.query("UPDATE users SET last_login = \(time), password = \(newHash) WHERE id = \(id)", logger: logger)
        } else {
            try await connection.query("UPDATE users SET last_login = \(time) WHERE id = \(id)", logger: logger)
        }
    }

    /// Inserts or updates a user under its Django id (import is safe to run twice).
    public static func upsert(_ user: User, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO users (id, username, email, password, is_active, is_staff, date_joined, last_login)
            VALUES (\(user.id), \(user.username), \(user.email), \(user.passwordHash), \(user.isActive), \(user.isStaff),
                    \(user.dateJoined), \(user.lastLogin))
            ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email, password = EXCLUDED.password,
                is_active = EXCLUDED.is_active, is_staff = EXCLUDED.is_staff, date_joined = EXCLUDED.date_joined,
                last_login = GREATEST(users.last_login, EXCLUDED.last_login)
            """,
            logger: logger
        )
    }

    /// Moves the id sequence past the largest id (after importing ids from Django).
    public static func resetIDSequence(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST((SELECT max(id) FROM users), 1))",
            logger: logger
        )
    }

    static func first(_ rows: PostgresRowSequence) async throws -> User? {
        for try await (id, username, email, password, active, staff, joined, lastLogin, sessionsRevokedAt) in rows.decode(
            (Int64, String, String, String, Bool, Bool, Date, Date?, Date?).self
        ) {
            return User(
                id: id, username: username, email: email, passwordHash: password, isActive: active, isStaff: staff,
                dateJoined: joined, lastLogin: lastLogin, sessionsRevokedAt: sessionsRevokedAt
            )
        }
        return nil
    }
}
