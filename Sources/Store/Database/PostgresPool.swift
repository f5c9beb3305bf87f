import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The process's PostgreSQL connections: at most `maximum` open, `minimum` of them kept open while idle, handed out
/// one caller at a time.
///
/// Why not postgres-nio's `PostgresClient`: its pool (1.33.2) traps on recovery when its minimum is above one. While
/// connection attempts fail it destroys every failing connection but one, and when that one connects, the next
/// lease asks for a demand connection under `precondition(minimumConcurrentConnections <= stats.active)`, which
/// no longer holds: an instance under load crashed (SIGILL) whenever PostgreSQL restarted. Its minimum below the
/// maximum is no way out either: it arms an idle timer (a task and a sleep) every time such a connection is
/// returned, about a quarter more CPU per request. This pool keeps what the functions need and nothing else:
///
/// - a caller takes an idle connection (the most recently returned, whose cache is warm), else waits in line while
///   the pool opens another, up to `maximum`; a waiting caller that is cancelled leaves the line at once (the
///   acquire deadline is the caller's, ``Database``);
/// - a connection that closes (PostgreSQL restarted, a call past its deadline) is dropped when it is noticed, never
///   handed out, and replaced as callers or `minimum` need;
/// - while connecting fails, one attempt at a time is made, after a backoff from 50 ms doubling to 2 s, so a
///   restarting server is not met by a storm of connection attempts; the first success opens the rest as needed;
/// - connections above `minimum` that stay idle for `idleTimeout` are closed, and idle ones are checked with
///   `SELECT 1` every `keepAlive` when set, both by one sweep a second, not by a timer per return.
///
/// Every task the pool starts is a child of ``run()``: connection attempts and the sweep end with it.
public final class PostgresPool: Service, Sendable {
    /// How many connections, and how long they stay.
    public struct Limits: Sendable {
        /// Most connections open at once.
        public var maximum: Int
        /// Connections kept open while idle.
        public var minimum: Int
        /// How long a connection above `minimum` may stay idle before it is closed.
        public var idleTimeout: Duration
        /// How often an idle connection is checked with `SELECT 1` (nil: never).
        public var keepAlive: Duration?

        /// Creates limits.
        public init(maximum: Int, minimum: Int, idleTimeout: Duration = .seconds(60), keepAlive: Duration? = nil) {
            self.maximum = max(maximum, 1)
            self.minimum = min(max(minimum, 0), self.maximum)
            self.idleTimeout = idleTimeout
            self.keepAlive = keepAlive
        }
    }

    /// Opens one connection (the pool passes each a new id).
    public typealias Connector = @Sendable (_ id: Int, _ logger: Logger) async throws -> PostgresConnection

    private struct Idle {
        var connection: PostgresConnection
        var since: ContinuousClock.Instant
        var checked: ContinuousClock.Instant
    }

    private struct Waiter {
        var id: UInt64
        var caller: CheckedContinuation<PostgresConnection, any Error>
    }

    private enum Phase {
        case running
        case shuttingDown
        case shutDown
    }

    private struct State {
        var phase = Phase.running
        /// Open connections, leased or idle, by id.
        var open: [Int: PostgresConnection] = [:]
        /// Idle connections, the most recently returned last.
        var idle: [Idle] = []
        /// Connection attempts started or waiting out a backoff.
        var connecting = 0
        /// Failed attempts since the last success.
        var failures = 0
        /// Callers waiting for a connection, first come first served.
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var nextConnection = 0

        var total: Int { open.count + connecting }
    }

    private enum Event {
        case connect(after: Duration)
    }

    private let limits: Limits
    private let connector: Connector
    private let logger: Logger
    private let state = Mutex(State())
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation

    /// Creates the pool; nothing connects until ``run()``.
    public init(limits: Limits, logger: Logger, connector: @escaping Connector) {
        self.limits = limits
        self.connector = connector
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
    }

    /// Opens `minimum` connections, then serves until cancelled or asked to shut down gracefully; closes every
    /// connection before it returns (a connection still leased is closed when it comes back, or after 10 s).
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                while true {
                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                    await sweep()
                }
            }
            wantMore(state.withLock { demand(in: &$0) })
            for await event in events.cancelOnGracefulShutdown() {
                switch event {
                case .connect(let delay):
                    group.addTask { [self] in await attempt(after: delay) }
                }
            }
            await beginShutdown()
            group.cancelAll()
        }
        await finishShutdown()
    }

    /// Runs `body` on a connection of its own, given back when `body` ends.
    @discardableResult
    public func withConnection<Result>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        let connection = try await lease()
        defer { release(connection) }
        return try await body(connection)
    }

    /// A connection for the caller alone; give it back with ``release(_:)``. Throws ``StoreError/unavailable``
    /// once the pool is shutting down and `CancellationError` when the caller is cancelled while waiting.
    public func lease() async throws -> PostgresConnection {
        enum Step {
            case ready(PostgresConnection)
            case closed
            case wait
        }
        let first = state.withLock { state -> Step in
            guard case .running = state.phase else { return .closed }
            return takeIdle(in: &state).map(Step.ready) ?? .wait
        }
        switch first {
        case .ready(let connection): return connection
        case .closed: throw StoreError.unavailable
        case .wait: break
        }
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (caller: CheckedContinuation<PostgresConnection, any Error>) in
                enum Answer {
                    case connection(PostgresConnection)
                    case failure(any Error)
                    case queued(connects: Int)
                }
                let answer = state.withLock { state -> Answer in
                    // Cancelled before it could queue: the handler below found nothing to remove. (Cancelled after,
                    // the handler finds it queued: it takes the lock after the flag is set.)
                    if Task.isCancelled { return .failure(CancellationError()) }
                    guard case .running = state.phase else { return .failure(StoreError.unavailable) }
                    if let connection = takeIdle(in: &state) { return .connection(connection) }
                    state.waiters.append(Waiter(id: id, caller: caller))
                    return .queued(connects: demand(in: &state))
                }
                switch answer {
                case .connection(let connection): caller.resume(returning: connection)
                case .failure(let error): caller.resume(throwing: error)
                case .queued(let connects): wantMore(connects)
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
            }
            waiter?.caller.resume(throwing: CancellationError())
        }
    }

    /// Gives a leased connection back: to the first waiting caller, else to the idle ones; closed if it has closed
    /// or the pool is shutting down.
    public func release(_ connection: PostgresConnection) {
        enum Next {
            case handOver(Waiter)
            case close
            case none(connects: Int)
        }
        let next = state.withLock { state -> Next in
            guard state.open[connection.id] != nil, !connection.isClosed else {
                dropClosed(connection.id, in: &state)
                return .none(connects: demand(in: &state))
            }
            guard case .running = state.phase else { return .close }
            if !state.waiters.isEmpty { return .handOver(state.waiters.removeFirst()) }
            let now = ContinuousClock.now
            state.idle.append(Idle(connection: connection, since: now, checked: now))
            return .none(connects: 0)
        }
        switch next {
        case .handOver(let waiter): waiter.caller.resume(returning: connection)
        case .close: connection.close().whenComplete { _ in }
        case .none(let connects): wantMore(connects)
        }
    }

    // MARK: Connecting

    /// One connection attempt, after `delay`; its connection goes to the first waiter or the idle ones.
    private func attempt(after delay: Duration) async {
        if delay > .zero { try? await Task.sleep(for: delay) }
        let cancelled = Task.isCancelled
        let id = state.withLock { state -> Int? in
            guard case .running = state.phase, !cancelled else {
                state.connecting -= 1
                return nil
            }
            defer { state.nextConnection += 1 }
            return state.nextConnection
        }
        guard let id else { return }
        do {
            let connection = try await connector(id, logger)
            connection.closeFuture.whenComplete { [self] _ in closed(connection.id) }
            enum Next {
                case handOver(Waiter, connects: Int)
                case close
                case none(connects: Int)
            }
            let next = state.withLock { state -> Next in
                state.connecting -= 1
                guard case .running = state.phase else { return .close }
                state.failures = 0
                state.open[connection.id] = connection
                if !state.waiters.isEmpty {
                    let waiter = state.waiters.removeFirst()
                    return .handOver(waiter, connects: demand(in: &state))
                }
                let now = ContinuousClock.now
                state.idle.append(Idle(connection: connection, since: now, checked: now))
                return .none(connects: demand(in: &state))
            }
            switch next {
            case .handOver(let waiter, let connects):
                waiter.caller.resume(returning: connection)
                wantMore(connects)
            case .close:
                connection.close().whenComplete { _ in }
            case .none(let connects):
                wantMore(connects)
            }
        } catch {
            let (retry, first) = state.withLock { state -> (Duration?, Bool) in
                state.connecting -= 1
                guard case .running = state.phase else { return (nil, false) }
                // Attempts started together (the closed connections replaced at once) fail together: one failure.
                if state.failures == 0 || delay > .zero { state.failures += 1 }
                // Try again while someone needs a connection (a waiter, or the minimum), one attempt at a time.
                guard !state.waiters.isEmpty || state.total < limits.minimum, state.connecting == 0 else {
                    return (nil, state.failures == 1)
                }
                state.connecting += 1
                return (Self.backoff(failures: state.failures), state.failures == 1)
            }
            if first { logger.warning("cannot connect to the database", metadata: ["error_type": "\(Self.errorType(error))"]) }
            if let retry { eventSink.yield(.connect(after: retry)) }
        }
    }

    /// 50 ms doubling to 2 s.
    static func backoff(failures: Int) -> Duration {
        .milliseconds(min(50 << min(max(failures - 1, 0), 6), 2000))
    }

    /// How many attempts to start now (already counted in `connecting`): enough for the waiters and the minimum,
    /// within the maximum; one at a time while connecting fails.
    private func demand(in state: inout State) -> Int {
        guard case .running = state.phase else { return 0 }
        let forWaiters = state.waiters.count - state.connecting
        let forMinimum = limits.minimum - state.total
        var wanted = min(max(forWaiters, forMinimum, 0), limits.maximum - state.total)
        if state.failures > 0 { wanted = state.connecting == 0 ? min(wanted, 1) : 0 }
        guard wanted > 0 else { return 0 }
        state.connecting += wanted
        return wanted
    }

    private func wantMore(_ connects: Int) {
        for _ in 0..<connects { eventSink.yield(.connect(after: .zero)) }
    }

    // MARK: Closing

    /// The most recently returned idle connection that is still open, as leased.
    private func takeIdle(in state: inout State) -> PostgresConnection? {
        while let idle = state.idle.popLast() {
            if idle.connection.isClosed {
                state.open[idle.connection.id] = nil
                continue
            }
            return idle.connection
        }
        return nil
    }

    private func dropClosed(_ id: Int, in state: inout State) {
        state.open[id] = nil
        state.idle.removeAll { $0.connection.id == id }
    }

    /// A connection closed (the server, the network or a deadline closed it): forget it and replace it as needed.
    private func closed(_ id: Int) {
        let connects = state.withLock { state -> Int in
            guard state.open[id] != nil else { return 0 }
            dropClosed(id, in: &state)
            return demand(in: &state)
        }
        wantMore(connects)
    }

    /// Once a second: closes connections idle past `idleTimeout` above the minimum, checks idle ones due a
    /// keep-alive, and tops the pool back up to its minimum.
    private func sweep() async {
        let now = ContinuousClock.now
        let (expired, due, connects) = state.withLock { state -> ([PostgresConnection], [PostgresConnection], Int) in
            guard case .running = state.phase else { return ([], [], 0) }
            var expired: [PostgresConnection] = []
            // Oldest idle first: those are the ones above the minimum that nobody needed.
            var index = 0
            while index < state.idle.count, state.open.count - expired.count > limits.minimum {
                if now - state.idle[index].since >= limits.idleTimeout {
                    expired.append(state.idle.remove(at: index).connection)
                } else {
                    index += 1
                }
            }
            for connection in expired { state.open[connection.id] = nil }
            var due: [PostgresConnection] = []
            if let keepAlive = limits.keepAlive {
                state.idle.removeAll { idle in
                    guard now - idle.checked >= keepAlive else { return false }
                    due.append(idle.connection)
                    return true
                }
            }
            return (expired, due, demand(in: &state))
        }
        for connection in expired { connection.close().whenComplete { _ in } }
        wantMore(connects)
        for connection in due {
            // Checked as a lease would use it: given back when it answers, closed (and so dropped) when it fails.
            do {
                try await connection.query("SELECT 1", logger: logger)
            } catch {
                try? await connection.close()
            }
            release(connection)
        }
    }

    /// Stops handing out connections, fails the waiters and closes the idle connections.
    private func beginShutdown() async {
        let (waiters, idle) = state.withLock { state -> ([Waiter], [PostgresConnection]) in
            state.phase = .shuttingDown
            defer {
                state.waiters.removeAll()
                state.idle.removeAll()
            }
            return (state.waiters, state.idle.map(\.connection))
        }
        eventSink.finish()
        for waiter in waiters { waiter.caller.resume(throwing: StoreError.unavailable) }
        for connection in idle { try? await connection.closeGracefully() }
    }

    /// Waits (10 s at most) for the leased connections to come back, each closed as it does, then closes whatever
    /// is left.
    private func finishShutdown() async {
        // Cancelled (not asked to shut down gracefully), nobody waits: what is left is closed at once.
        let deadline = ContinuousClock.now + .seconds(10)
        while !Task.isCancelled, ContinuousClock.now < deadline {
            let left = state.withLock { state -> Int in
                state.open = state.open.filter { !$0.value.isClosed }
                return state.open.count
            }
            if left == 0 { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let left = state.withLock { state -> [PostgresConnection] in
            state.phase = .shutDown
            defer { state.open.removeAll() }
            return Array(state.open.values)
        }
        for connection in left { try? await connection.close() }
    }

    private static func errorType(_ error: any Error) -> String {
        (error as? PSQLError).map { "\($0.code)" } ?? String(describing: type(of: error))
    }
}
