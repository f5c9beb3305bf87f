import Logging
import PostgresNIO
import ServiceLifecycle

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
    /// How long a whole call may take before its caller is told the store is unavailable (nil: no bound).
    public let callTimeout: Duration?
    private let logger: Logger

    /// Creates the pool; nothing connects until ``service`` runs, which opens the configuration's minimum number
    /// of connections (a serving instance's whole pool by default) and the rest as queries ask. `callTimeout` bounds whole
    /// calls (the server passes `DB_CALL_TIMEOUT_MS`; commands such as `migrate` leave long statements unbounded).
    public init(configuration: DatabaseConfiguration, logger: Logger, acquireTimeout: Duration? = nil, callTimeout: Duration? = nil) throws {
        self.client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        self.acquireTimeout = acquireTimeout ?? configuration.acquireTimeout
        self.callTimeout = callTimeout
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
                try leased.set(connection)
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
                try leased.set(connection)
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
    /// The work runs in its own task so that the wait for a connection can be cut off: when no connection was
    /// leased within `acquireTimeout`, ``AcquireWatchdog`` answers the caller ``StoreError/unavailable`` at once
    /// and cancels that task (should the pool still hand it a connection, the work does not run). Once a connection
    /// is leased the work is never cut off; it ends on its own. Every call is watched (skipping it while the pool
    /// had just answered let calls that began in the moment after PostgreSQL stopped wait on the pool for a
    /// minute); watching costs a lock and a dictionary entry, not a timer per call.
    private func guarded<Result: Sendable>(
        _ operation: @escaping @Sendable (LeaseFlag) async throws -> Result
    ) async throws -> Result {
        let leased = LeaseFlag()
        let answer = Answer<Result>()
        let logger = self.logger
        let started = ContinuousClock.now
        let (acquireTimeout, callTimeout) = (self.acquireTimeout, self.callTimeout)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                    answer.hold(continuation)
                    let task = Task {
                        do { answer.resume(with: .success(try await operation(leased))) } catch { answer.resume(with: .failure(error)) }
                    }
                    answer.onCancel { task.cancel() }
                    let watch = WatchID()
                    watch.id = AcquireWatchdog.shared.watch(deadline: started + acquireTimeout) {
                        if leased.timeOut() {
                            logger.warning("database unavailable", metadata: ["error_type": "acquire_timeout"])
                            answer.resume(with: .failure(StoreError.unavailable))
                            task.cancel()
                        } else if let callTimeout, callTimeout > acquireTimeout {
                            // Leased: the work is not cut off, but its caller is not left waiting for ever either (a
                            // query sent on a connection that was closing can wait for an answer that never comes).
                            watch.id = AcquireWatchdog.shared.watch(deadline: started + callTimeout) {
                                // (The call may have ended just as this was armed: then there is nothing to say.)
                                guard answer.resume(with: .failure(StoreError.unavailable)) else { return }
                                logger.error(
                                    "database call still running after DB_CALL_TIMEOUT_MS; answered 503 (its connection stays leased until it ends)",
                                    metadata: ["error_type": "call_timeout"]
                                )
                                task.cancel()
                            }
                        }
                    }
                    answer.onFinish { if let id = watch.id { AcquireWatchdog.shared.forget(id) } }
                }
            } onCancel: {
                answer.cancel()
            }
        } catch let error as PSQLError {
            throw Self.translate(error, logger: logger)
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError {
                throw (inner as? PSQLError).map { Self.translate($0, logger: logger) } ?? inner
            }
            if let failed = (error.beginError ?? error.commitError) as? PSQLError { throw Self.translate(failed, logger: logger) }
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
