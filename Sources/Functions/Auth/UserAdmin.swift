import Domain
import Foundation
public import Logging
import PostgresNIO
import Store

/// User administration for the `functions users` commands: every change checked by the password policy
/// where a password is set, and audited with the operator as actor.
public struct UserAdmin: Sendable {
    let database: Database
    let hasher: DjangoPasswordHasher
    let policy: PasswordPolicy
    let clock: WallClock
    let work: PasswordWork

    /// Creates the admin service.
    public init(
        database: Database,
        hashIterations: Int,
        policy: PasswordPolicy = PasswordPolicy(),
        clock: WallClock = .system,
        work: PasswordWork = .shared
    ) {
        self.database = database
        self.hasher = DjangoPasswordHasher(iterations: hashIterations)
        self.policy = policy
        self.clock = clock
        self.work = work
    }

    /// Creates a user; throws ``AuthError/weakPassword(_:)`` or ``AuthError/usernameTaken``.
    public func create(username: String, email: String, password: String, isStaff: Bool, actor: String, logger: Logger) async throws -> User {
        guard User.isValidUsername(username) else { throw AuthError.invalidUsername }
        let problems = policy.problems(with: password)
        guard problems.isEmpty else { throw AuthError.weakPassword(problems) }
        let hasher = self.hasher
        let hash = try await work.run { hasher.hash(password) }
        let now = clock.now()
        return try await database.withTransaction { connection in
            let user = try await UserStore.create(
                username: username, email: email, passwordHash: hash, isStaff: isStaff, now: now, on: connection, logger: logger
            )
            try await AuditLog.record(
                AuditEvent(action: "user_create", outcome: "success", userID: user.id, username: username, actor: actor),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_user_admin_total", labels: ["action": "create"], on: connection, logger: logger)
            return user
        }
    }

    /// Sets a new password (policy checked).
    public func setPassword(username: String, password: String, actor: String, logger: Logger) async throws {
        let problems = policy.problems(with: password)
        guard problems.isEmpty else { throw AuthError.weakPassword(problems) }
        let hasher = self.hasher
        let hash = try await work.run { hasher.hash(password) }
        let now = clock.now()
        try await database.withTransaction { connection in
            guard let user = try await UserStore.find(username: username, on: connection, logger: logger) else { throw AuthError.unknownUser }
            let revoked = try await UserStore.setPassword(id: user.id, hash: hash, now: now, on: connection, logger: logger)
            try await AuditLog.record(
                AuditEvent(
                    action: "user_set_password", outcome: "success", userID: user.id, username: username, actor: actor,
                    detail: ["families_revoked": String(revoked)]
                ),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_user_admin_total", labels: ["action": "set_password"], on: connection, logger: logger)
        }
    }

    /// Deactivates a user and revokes every token family they hold.
    public func deactivate(username: String, actor: String, logger: Logger) async throws {
        let now = clock.now()
        try await database.withTransaction { connection in
            guard let user = try await UserStore.setActive(username: username, false, on: connection, logger: logger) else {
                throw AuthError.unknownUser
            }
            let revoked = try await UserStore.endSessions(userID: user.id, reason: "user_deactivated", now: now, on: connection, logger: logger)
            try await AuditLog.record(
                AuditEvent(
                    action: "user_deactivate", outcome: "success", userID: user.id, username: username, actor: actor,
                    detail: ["families_revoked": String(revoked)]
                ),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_user_admin_total", labels: ["action": "deactivate"], on: connection, logger: logger)
        }
    }

    /// Copies Django's `auth_user` rows (ids, hashes, flags) from `source`; safe to run twice. Returns the count.
    public func importDjango(from source: Database, actor: String, logger: Logger) async throws -> Int {
        let users: [User] = try await source.withConnection { connection in
            let rows = try await connection.query(
                "SELECT id::bigint, username, email, password, is_active, is_staff, date_joined, last_login FROM auth_user ORDER BY id",
                logger: logger
            )
            var users: [User] = []
            for try await (id, username, email, password, active, staff, joined, lastLogin) in rows.decode(
                (Int64, String, String, String, Bool, Bool, Date, Date?).self
            ) {
                users.append(
                    User(
                        id: id, username: username, email: email, passwordHash: password, isActive: active, isStaff: staff,
                        dateJoined: joined, lastLogin: lastLogin
                    )
                )
            }
            return users
        }
        let now = clock.now()
        try await database.withTransaction { connection in
            for user in users { try await UserStore.upsert(user, on: connection, logger: logger) }
            try await UserStore.resetIDSequence(on: connection, logger: logger)
            try await AuditLog.record(
                AuditEvent(action: "user_import_django", outcome: "success", actor: actor, detail: ["count": String(users.count)]),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_user_admin_total", labels: ["action": "import_django"], by: Int64(users.count), on: connection, logger: logger)
        }
        return users.count
    }
}
