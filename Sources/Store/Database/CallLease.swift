import NIOCore
import PostgresNIO
import Synchronization

/// One database call and its caller's answer, which comes from whichever ends first: the call, or one of its
/// deadlines (``Database``).
///
/// The call runs in a task of its own and its caller waits here, not on that task: postgres-nio writes a query to
/// its channel without a promise for the write, so a query written just as its connection closes is never answered
/// (vapor/postgres-nio#487, reverted in #501). A caller tied to such a call structurally (a task group, `await
/// task.value`) would wait for ever, and with it the request, and the server's graceful shutdown. Here the deadline
/// answers the caller and the stuck call is left behind, its connection closed.
final class CallLease<Value: Sendable>: Sendable {
    private enum Lease {
        case waiting
        case leased(PostgresConnection)
        case expired
    }

    private struct State {
        var lease = Lease.waiting
        /// The answer, once given (later answers are ignored).
        var answer: Result<Value, any Error>?
        /// The caller, while it waits for an answer.
        var caller: CheckedContinuation<Value, any Error>?
    }

    private let state = Mutex(State())

    /// Marks the connection leased; throws ``StoreError/unavailable`` when the deadline won the race (the work must
    /// not run: its caller has been answered).
    func set(_ connection: PostgresConnection) throws {
        let won = state.withLock { state in
            guard case .waiting = state.lease else { return false }
            state.lease = .leased(connection)
            return true
        }
        guard won else { throw StoreError.unavailable }
    }

    /// At the acquire deadline: the leased connection, or nil when there was none and the call is now expired.
    func expireUnlessLeased() -> PostgresConnection? {
        state.withLock { state in
            if case .leased(let connection) = state.lease { return connection }
            state.lease = .expired
            return nil
        }
    }

    /// The leased connection while the caller still waits for an answer.
    var leasedAndUnanswered: PostgresConnection? {
        state.withLock { state in
            guard state.answer == nil, case .leased(let connection) = state.lease else { return nil }
            return connection
        }
    }

    /// Answers the caller, once: the first answer stands.
    func answer(_ result: Result<Value, any Error>) {
        let caller = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard state.answer == nil else { return nil }
            state.answer = result
            defer { state.caller = nil }
            return state.caller
        }
        caller?.resume(with: result)
    }

    /// Waits for the answer.
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { caller in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let answer = state.answer { return answer }
                state.caller = caller
                return nil
            }
            if let ready { caller.resume(with: ready) }
        }
    }
}
