import Domain
import Foundation
import Logging
import PostgresNIO
import Store
import Synchronization

/// The PostgreSQL the tests use: `TEST_DATABASE_URL` or `DATABASE_URL` when set, else a throwaway cluster
/// started once for the whole test run and removed when the process exits. Each suite gets its own
/// database, migrated. Nothing here skips: if PostgreSQL cannot be had, the test fails with the reason.
public enum TestDatabase {
    /// A migrated database of its own for `suite`, and a running pool on it for the duration of `body`.
    public static func with<T: Sendable>(
        suite: String,
        _ body: @escaping @Sendable (Database) async throws -> T
    ) async throws -> T {
        let configuration = try await configuration(suite: suite)
        let database = try Database(configuration: configuration, logger: quietLogger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await database.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }

    /// The configuration of `suite`'s database, created and migrated on first use.
    public static func configuration(suite: String) async throws -> DatabaseConfiguration {
        try await TestCluster.shared.database(for: suite)
    }

    /// The server's admin configuration (database `postgres`), for tests that create their own databases.
    public static func admin() async throws -> DatabaseConfiguration {
        try await TestCluster.shared.adminConfiguration()
    }

    /// A logger that only reports errors, so test output stays readable.
    public static var quietLogger: Logger {
        var logger = Logger(label: "test-postgres")
        logger.logLevel = .critical
        return logger
    }
}

/// Starts (once) and hands out databases on the test PostgreSQL.
actor TestCluster {
    static let shared = TestCluster()

    private var admin: DatabaseConfiguration?
    private var databases: [String: DatabaseConfiguration] = [:]
    private var creating: [String: Task<DatabaseConfiguration, any Error>] = [:]

    func adminConfiguration() throws -> DatabaseConfiguration {
        if let admin { return admin }
        let environment = ProcessInfo.processInfo.environment
        let url = environment["TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let configuration: DatabaseConfiguration
        if let url {
            configuration = try DatabaseConfiguration(url: url)
        } else {
            configuration = try ThrowawayCluster.start()
        }
        admin = configuration
        return configuration
    }

    func database(for suite: String) async throws -> DatabaseConfiguration {
        if let existing = databases[suite] { return existing }
        if let pending = creating[suite] { return try await pending.value }
        let admin = try adminConfiguration()
        let task = Task { try await Self.create(suite: suite, admin: admin) }
        creating[suite] = task
        let created = try await task.value
        databases[suite] = created
        return created
    }

    private static func create(suite: String, admin: DatabaseConfiguration) async throws -> DatabaseConfiguration {
        let safe = suite.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let name = "test_\(String(safe).prefix(40))_\(UInt32.random(in: 0...UInt32.max))"
        let logger = TestDatabase.quietLogger
        let adminDatabase = try Database(configuration: admin, logger: logger)
        try await run(adminDatabase) {
            try await adminDatabase.withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
            }
        }
        let configuration = admin.with(database: name)
        let database = try Database(configuration: configuration, logger: logger)
        try await run(database) {
            try await Migrator(database: database, logger: logger).migrate()
        }
        return configuration
    }

    private static func run<T: Sendable>(_ database: Database, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await database.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}

/// The cluster a test run starts for itself when no database is given; stopped and deleted at exit.
enum ThrowawayCluster {
    private static let cluster = Mutex<LocalPostgresCluster?>(nil)

    static func start() throws -> DatabaseConfiguration {
        let folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("functions-test-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let local = try LocalPostgresCluster(directory: folder, ephemeral: true)
        let configuration = try local.start()
        cluster.withLock { $0 = local }
        atexit {
            guard let cluster = ThrowawayCluster.cluster.withLock({ $0 }) else { return }
            try? cluster.stop()
            try? FileManager.default.removeItem(at: cluster.directory)
        }
        return configuration
    }
}
