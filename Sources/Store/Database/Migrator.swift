import Logging
import PostgresNIO

/// Applies pending migrations under a transaction-scoped advisory lock, so any number of instances may
/// start at once: the first applies, the rest wait on the lock and then find nothing to do.
public struct Migrator: Sendable {
    /// An arbitrary constant that names this schema's migration lock.
    static let lockKey: Int64 = 0x5F_4D_49_47_52_41_54_45  // "_MIGRATE"

    private let database: Database
    private let migrations: [Migration]
    private let logger: Logger

    /// Creates a migrator for `migrations` (default: all of them).
    public init(database: Database, migrations: [Migration] = Migrations.all, logger: Logger) {
        self.database = database
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Applies what is pending and returns the versions applied by this call.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let migrations = self.migrations
        let logger = self.logger
        return try await database.withTransaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                logger: logger
            )
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger)
                .decode(Int.self)
            {
                applied.insert(version)
            }
            var done: [Int] = []
            for migration in migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                logger.notice("applied migration", metadata: ["migration": .string(migration.name), "version": "\(migration.version)"])
                done.append(migration.version)
            }
            return done
        }
    }

    /// The versions recorded as applied.
    public func appliedVersions() async throws -> [Int] {
        let logger = self.logger
        return try await database.withConnection { connection in
            var versions: [Int] = []
            let rows = try await connection.query("SELECT version FROM schema_migrations ORDER BY version", logger: logger)
            for try await version in rows.decode(Int.self) { versions.append(version) }
            return versions
        }
    }
}
