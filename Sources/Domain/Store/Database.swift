import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The process's PostgreSQL pool, with the failure modes callers care about made explicit.
///
/// Leasing a connection waits at most `acquireTimeout`: while PostgreSQL is down a request gets
/// ``StoreError/unavailable`` (a 503) quickly instead of hanging, and the pool reconnects by itself when the
/// server returns. Errors that mean "the server is gone" become ``StoreError/unavailable`` too.
public struct Database: Sendable {
    /// The underlying client; run it as a service (``service``).
    public let client: PostgresClient
    /// How long a caller waits for a connection before it is told the store is unavailable.
    public let acquireTimeout: Duration
    private let logger: Logger
    private let health = PoolHealth()

    /// Creates the pool; nothing connects until ``service`` runs and a query asks.
    public init(configuration: DatabaseConfiguration, logger: Logger, acquireTimeout: Duration? = nil) throws {
        self.client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        self.acquireTimeout = acquireTimeout ?? configuration.acquireTimeout
        self.logger = logger
    }

    /// The long-lived service that owns the pool's connections. Add it to the service group before the server.
    public var service: some Service { client }

    /// Runs `body` on one leased connection.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let client = self.client
        return try await guarded { leased in
            try await client.withConnection { connection in
                leased.set()
                return try await body(connection)
            }
        }
    }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it throws.
    public func withTransaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let client = self.client
        let logger = self.logger
        return try await guarded { leased in
            try await client.withConnection { connection in
                leased.set()
                return try await connection.withTransaction(logger: logger) { try await body($0) }
            }
        }
    }

    /// True when `SELECT 1` answers within `timeout`.
    public func ping(timeout: Duration = .seconds(2)) async -> Bool {
        do {
            return try await withDeadline(timeout) {
                try await client.query("SELECT 1", logger: logger)
                return true
            }
        } catch {
            return false
        }
    }

    /// Leases with a bounded wait and maps "server gone" errors to ``StoreError/unavailable``.
    ///
    /// The bounded wait costs a timer per call. While the pool has just answered (within the last second,
    /// with no failure since) the call goes straight through: live connections fail fast when the server
    /// goes, and the first failure puts every later call back behind the timer.
    private func guarded<Result: Sendable>(
        _ operation: @escaping @Sendable (LeaseFlag) async throws -> Result
    ) async throws -> Result {
        let leased = LeaseFlag()
        let acquireTimeout = self.acquireTimeout
        let health = self.health
        do {
            if health.recentlyHealthy {
                let result = try await operation(leased)
                health.succeeded()
                return result
            }
            let result = try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask { try await operation(leased) }
                group.addTask {
                    try await Task.sleep(for: acquireTimeout)
                    if leased.isSet {
                        // The work has started: never cut it off here; it ends on its own.
                        try await Task.sleep(for: .seconds(86_400 * 365))
                    }
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw StoreError.unavailable
                }
                return result
            }
            health.succeeded()
            return result
        } catch let error as PSQLError {
            let translated = Self.translate(error, logger: logger)
            if translated == .unavailable { health.failed() }
            throw translated
        } catch StoreError.unavailable {
            health.failed()
            throw StoreError.unavailable
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError {
                throw (inner as? PSQLError).map { Self.translate($0, logger: logger) } ?? inner
            }
            if let failed = (error.beginError ?? error.commitError) as? PSQLError {
                let translated = Self.translate(failed, logger: logger)
                if translated == .unavailable { health.failed() }
                throw translated
            }
            health.failed()
            throw StoreError.unavailable
        }
    }

    /// "Server gone" becomes ``StoreError/unavailable``; any other failure keeps only what is safe to log.
    static func translate(_ error: PSQLError, logger: Logger) -> StoreError {
        if meansUnavailable(error) {
            logger.warning("database unavailable", metadata: ["error_type": "\(error.code)"])
            return .unavailable
        }
        let info = error.serverInfo
        let objects = [(info?[.tableName]).map { "table=\($0)" }, (info?[.constraintName]).map { "constraint=\($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        return .queryFailed(sqlState: info?[.sqlState] ?? "\(error.code)", objects: objects)
    }

    /// Connection-level failures and the server's "shutting down / cannot connect now" classes.
    static func meansUnavailable(_ error: PSQLError) -> Bool {
        switch error.code {
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return false }
            return state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300"
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown,
            .queryCancelled, .failedToAddSSLHandler, .sslUnsupported:
            return true
        default:
            return false
        }
    }
}

/// When the pool last answered, and whether it has failed since: decides whether a call needs the timer.
final class PoolHealth: Sendable {
    private let lastSuccess = Atomic<Int64>(Int64.min / 2)
    private let failedSince = Atomic<Bool>(true)

    private static let origin = ContinuousClock.now

    /// Milliseconds since the process's first use of this type.
    private static func now() -> Int64 {
        let elapsed = ContinuousClock.now - origin
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }

    var recentlyHealthy: Bool {
        !failedSince.load(ordering: .relaxed) && Self.now() - lastSuccess.load(ordering: .relaxed) < 1000
    }

    func succeeded() {
        lastSuccess.store(Self.now(), ordering: .relaxed)
        failedSince.store(false, ordering: .relaxed)
    }

    func failed() { failedSince.store(true, ordering: .relaxed) }
}

/// Set once when a connection has been leased; read by the acquire timer.
final class LeaseFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Runs `body`, throwing ``StoreError/unavailable`` when it takes longer than `timeout`.
func withDeadline<Result: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw StoreError.unavailable }
        return result
    }
}
