import PostgresNIO
import Synchronization

/// Whether one database call got its connection before its acquire deadline: exactly one of "leased" and
/// "expired" wins. Once leased, it holds the connection, so that a call still running at its call deadline can
/// be ended by closing that connection (postgres-nio does not cancel a running query; a closed connection fails
/// it at once, and the pool replaces it).
final class CallLease: Sendable {
    private enum State {
        case waiting
        case leased(PostgresConnection)
        case expired
    }

    private let state = Mutex(State.waiting)

    /// Marks the connection leased; throws ``StoreError/unavailable`` when the deadline won the race (the work must
    /// not run: its caller has been answered).
    func set(_ connection: PostgresConnection) throws {
        let won = state.withLock { state in
            guard case .waiting = state else { return false }
            state = .leased(connection)
            return true
        }
        guard won else { throw StoreError.unavailable }
    }

    /// At the acquire deadline: the leased connection, or nil when there was none and the call is now expired.
    func expireUnlessLeased() -> PostgresConnection? {
        state.withLock { state in
            if case .leased(let connection) = state { return connection }
            state = .expired
            return nil
        }
    }
}
