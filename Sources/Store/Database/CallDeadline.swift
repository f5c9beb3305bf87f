import PostgresNIO
import Synchronization

// The deadlines of database calls (see `Database.guarded`): who answers a call, and when.

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
        // Detached: the sweeper outlives the call that happened to start it and must not inherit its cancellation.
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
