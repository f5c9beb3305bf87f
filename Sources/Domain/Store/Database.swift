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
    /// How long a whole call may take before its caller is told the store is unavailable (nil: no bound).
    public let callTimeout: Duration?
    private let logger: Logger

    /// Creates the pool; nothing connects until ``service`` runs and a query asks. `callTimeout` bounds whole
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

/// Whether a call got its connection before its deadline: exactly one of "leased" and "timed out" wins.
final class LeaseFlag: Sendable {
    private static let waiting: UInt8 = 0
    private static let leased: UInt8 = 1
    private static let expired: UInt8 = 2
    private let state = Atomic<UInt8>(LeaseFlag.waiting)

    /// Marks the connection leased; throws ``StoreError/unavailable`` when the deadline won the race, or when the
    /// pool handed out a connection that has just closed (PostgreSQL went away and the pool has not heard yet: a
    /// query written to it would never be answered).
    func set(_ connection: PostgresConnection) throws {
        guard state.compareExchange(expected: Self.waiting, desired: Self.leased, ordering: .acquiringAndReleasing).exchanged else {
            throw StoreError.unavailable
        }
        guard !connection.isClosed else { throw StoreError.unavailable }
    }

    /// Marks the call timed out; false when it had already leased its connection.
    func timeOut() -> Bool {
        state.compareExchange(expected: Self.waiting, desired: Self.expired, ordering: .acquiringAndReleasing).exchanged
    }
}

/// The one answer a guarded call gets: from its work or from its deadline, whichever comes first; the other is
/// dropped. Also carries what to do when the caller is cancelled and when the answer is given.
final class Answer<Result: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result, any Error>?
        var answered = false
        var cancelled = false
        var cancelWork: (@Sendable () -> Void)?
        var finish: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func hold(_ continuation: CheckedContinuation<Result, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Gives the answer unless one was given (true when this call gave it); runs the finish action once.
    @discardableResult
    func resume(with result: Swift.Result<Result, any Error>) -> Bool {
        let (given, continuation, finish) = state.withLock { state -> (Bool, CheckedContinuation<Result, any Error>?, (@Sendable () -> Void)?) in
            guard !state.answered else { return (false, nil, nil) }
            state.answered = true
            defer { state.continuation = nil }
            return (true, state.continuation, state.finish)
        }
        finish?()
        continuation?.resume(with: result)
        return given
    }

    /// Registers how to cancel the work (run at once when the caller was already cancelled).
    func onCancel(_ cancelWork: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            state.cancelWork = cancelWork
            return state.cancelled
        }
        if runNow { cancelWork() }
    }

    /// Registers what to do once the answer is given (at once when it already was).
    func onFinish(_ finish: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state in
            state.finish = finish
            return state.answered
        }
        if runNow { finish() }
    }

    /// The caller was cancelled: cancel the work (its answer, an error, follows).
    func cancel() {
        let cancelWork = state.withLock { state in
            state.cancelled = true
            return state.cancelWork
        }
        cancelWork?()
    }
}

/// The watchdog entry a call currently holds (its acquire deadline, then its call deadline).
final class WatchID: Sendable {
    private let value = Mutex<UInt64?>(nil)
    var id: UInt64? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// Fires the deadlines of calls waiting for a pooled connection.
///
/// One sweeper task, started by the first watch and ending when nothing is watched, looks every 50 ms for
/// passed deadlines; a watch is an entry in a locked dictionary. (A sleeping timer task per call cost about a
/// tenth of a request's CPU.)
final class AcquireWatchdog: Sendable {
    static let shared = AcquireWatchdog()
    static let tick = Duration.milliseconds(50)

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var fire: @Sendable () -> Void
    }

    private struct State {
        var nextID: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        var sweeping = false
    }

    private let state = Mutex(State())

    /// Calls `fire` once `deadline` has passed, unless ``forget(_:)`` came first.
    func watch(deadline: ContinuousClock.Instant, fire: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, start) = state.withLock { state in
            state.nextID &+= 1
            state.entries[state.nextID] = Entry(deadline: deadline, fire: fire)
            defer { state.sweeping = true }
            return (state.nextID, !state.sweeping)
        }
        if start { Task.detached { await self.sweep() } }
        return id
    }

    func forget(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    private func sweep() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (due, done): ([Entry], Bool) = state.withLock { state in
                let due = state.entries.filter { $0.value.deadline <= now }
                for id in due.keys { state.entries.removeValue(forKey: id) }
                if state.entries.isEmpty { state.sweeping = false }
                return (Array(due.values), state.entries.isEmpty)
            }
            for entry in due { entry.fire() }
            if done { return }
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
