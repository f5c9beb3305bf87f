import Foundation
import Logging
import PostgresNIO
import Store
import Testing
import TestSupport

/// The pool against a real PostgreSQL: its bounds, its recovery when connecting fails (where postgres-nio's own
/// pool trapped), cancelled and dropped callers, shutdown.
// The time limit catches a hang; it also counts each test's wait for a machine share.
@Suite("PostgreSQL pool: bounds, recovery, cancellation, shutdown", .machineShare, .timeLimit(.minutes(5)))
struct PostgresPoolTests {
    let logger = TestDatabase.quietLogger

    /// Opens real connections, counts them, and refuses while `down` is set (as a restarting server does).
    final class Connector: Sendable {
        let configuration: PostgresConnection.Configuration
        let down = Locked(false)
        /// Attempts made, attempts in flight now, refusals, and the most in flight at once once one was refused.
        let attempts = Locked(0)
        let inFlight = Locked(0)
        let refused = Locked(0)
        let mostInFlightAfterRefusal = Locked(0)

        init(_ configuration: DatabaseConfiguration) throws {
            var connection = try configuration.connectionConfiguration()
            // Named, so that the checks below count this pool's backends only.
            connection.options.additionalStartupParameters = [("application_name", Connector.name)]
            self.configuration = connection
        }

        static let name = "pool-under-test"
        /// Connections opened.
        let opened = Locked(0)

        func connect(id: Int, logger: Logger) async throws -> PostgresConnection {
            attempts.withLock { $0 += 1 }
            let now = inFlight.withLock { value -> Int in
                value += 1
                return value
            }
            defer { inFlight.withLock { $0 -= 1 } }
            if down.withLock({ $0 }) {
                if refused.withLock({ $0 }) > 0 { mostInFlightAfterRefusal.withLock { $0 = max($0, now) } }
                try await Task.sleep(for: .milliseconds(20))
                refused.withLock { $0 += 1 }
                throw POSIXError(.ECONNREFUSED)
            }
            let connection = try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
            opened.withLock { $0 += 1 }
            return connection
        }
    }

    func withPool<T: Sendable>(
        suite: String, limits: PostgresPool.Limits,
        _ body: @escaping @Sendable (PostgresPool, Connector) async throws -> T
    ) async throws -> T {
        let connector = try Connector(try await TestDatabase.configuration(suite: suite))
        let pool = PostgresPool(limits: limits, logger: logger) { id, logger in try await connector.connect(id: id, logger: logger) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await pool.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(pool, connector)
        }
    }

    /// The backends of this pool's database other than the asking one.
    static func backends(_ pool: PostgresPool, logger: Logger) async throws -> Int {
        try await pool.withConnection { connection in
            var count = 0
            let rows = try await connection.query(
                "SELECT count(*)::int FROM pg_stat_activity WHERE application_name = \(Connector.name) AND datname = current_database() AND pid <> pg_backend_pid()",
                logger: logger
            )
            for try await value in rows.decode(Int.self) { count = value }
            return count
        }
    }

    @Test("never more than the maximum open; every caller served; the minimum opened at start and kept")
    func bounds() async throws {
        let logger = self.logger
        try await withPool(suite: "pool-bounds", limits: .init(maximum: 3, minimum: 2)) { pool, connector in
            // The minimum opens without any caller.
            try await waitUntil(timeout: .seconds(10), every: .milliseconds(10)) { connector.opened.withLock { $0 } >= 2 }
            #expect(connector.opened.withLock { $0 } == 2)
            let served = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<30 {
                    group.addTask {
                        _ = try await pool.withConnection { connection in
                            try await connection.query("SELECT pg_sleep(0.02)", logger: logger)
                        }
                        served.withLock { $0 += 1 }
                    }
                }
                try await group.waitForAll()
            }
            #expect(served.withLock { $0 } == 30)
            #expect(connector.opened.withLock { $0 } == 3)
            #expect(try await Self.backends(pool, logger: logger) <= 2)
        }
    }

    @Test("connections above the minimum close after the idle timeout; the minimum stays")
    func idleAboveMinimum() async throws {
        let logger = self.logger
        // 3 s idle: long enough that a loaded machine's pause between the queries and the first count cannot let the
        // sweep close connections before they are counted (1 s did, under a full run).
        try await withPool(suite: "pool-idle", limits: .init(maximum: 4, minimum: 1, idleTimeout: .seconds(3))) { pool, connector in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { _ = try await pool.withConnection { try await $0.query("SELECT pg_sleep(0.2)", logger: logger) } }
                }
                try await group.waitForAll()
            }
            #expect(connector.opened.withLock { $0 } == 4)
            #expect(try await Self.backends(pool, logger: logger) == 3)
            // One kept (the one asking), the three others closed by the sweep once a second after 3 s idle.
            let idle = ContinuousClock.now
            try await waitUntil(timeout: .seconds(20), every: .milliseconds(200)) { try await Self.backends(pool, logger: logger) == 0 }
            #expect(ContinuousClock.now - idle > .seconds(1))
            #expect(try await Self.backends(pool, logger: logger) == 0)
            #expect(connector.opened.withLock { $0 } == 4)
        }
    }

    @Test(
        "PostgreSQL gone and back under load with the whole pool as minimum: one connection attempt at a time while it is down, every caller after it returns served, no trap"
    )
    func recoveryUnderLoad() async throws {
        let logger = self.logger
        let name = try await TestDatabase.configuration(suite: "pool-recovery").database
        try await withPool(suite: "pool-recovery", limits: .init(maximum: 6, minimum: 6)) { pool, connector in
            // All six open first.
            try await waitUntil(timeout: .seconds(20)) { try await Self.backends(pool, logger: logger) >= 5 }
            // Down: new connections are refused and every open one is ended by the server, as at a restart.
            connector.down.withLock { $0 = true }
            let admin = try Database(configuration: try await TestDatabase.admin(), logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await admin.run() as Void }
                try await admin.withConnection { connection in
                    try await connection.query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name)", logger: logger
                    )
                }
                group.cancelAll()
            }
            // The ends noticed (PostgreSQL says FATAL and closes each socket).
            try await Task.sleep(for: .milliseconds(500))
            // Callers arrive while it is down; each gives up after 300 ms, as the acquire deadline would. They run no
            // query: one written to a connection the server has just ended may never be answered (postgres-nio#487,
            // which Database's call deadline covers and a bare pool does not), and this is about connecting.
            let failedWhileDown = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        let attempt = Task { try await pool.withConnection { _ in } }
                        try await Task.sleep(for: .milliseconds(300))
                        attempt.cancel()
                        if case .failure = await attempt.result { failedWhileDown.withLock { $0 += 1 } }
                    }
                }
                try await group.waitForAll()
            }
            // All but those that took one of the six ended connections before its close was noticed.
            #expect(failedWhileDown.withLock { $0 } >= 34)
            // Each closed connection noticed before the first refusal is replaced at once (at most six attempts, which
            // fail together); then one attempt at a time, each after a longer backoff (50, 100, 200 ms …), however
            // many callers wait (40 here, each of which would have asked for a connection).
            let refusals = connector.refused.withLock { $0 }
            #expect(refusals >= 1 && refusals <= 15, "\(refusals)")
            #expect(connector.mostInFlightAfterRefusal.withLock { $0 } <= 6)
            // Back, with callers already waiting.
            let served = Locked(0)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        try await pool.withConnection { try await $0.query("SELECT pg_sleep(0.01)", logger: logger) }
                        served.withLock { $0 += 1 }
                    }
                    if index == 10 { connector.down.withLock { $0 = false } }
                }
                try await group.waitForAll()
            }
            #expect(served.withLock { $0 } == 60)
            // And the pool is back to its minimum.
            try await waitUntil(timeout: .seconds(10), every: .milliseconds(100)) { try await Self.backends(pool, logger: logger) >= 5 }
            #expect(try await Self.backends(pool, logger: logger) == 5)
        }
    }

    @Test("a connection the server ends is never handed out again: dropped, replaced")
    func serverEndsConnection() async throws {
        let logger = self.logger
        try await withPool(suite: "pool-terminated", limits: .init(maximum: 2, minimum: 2)) { pool, connector in
            // Two connections: one ends the other's backend.
            let asking = try await pool.lease()
            let pid = try await pool.withConnection { connection in
                var pid: Int32 = 0
                for try await value in try await connection.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) {
                    pid = value
                }
                return pid
            }
            try await asking.query("SELECT pg_terminate_backend(\(pid))", logger: logger)
            pool.release(asking)
            // Once the pool has noticed the end, it opens a third connection to keep its minimum of two (a fixed
            // 200 ms was not always enough on a loaded machine to notice it).
            try await waitUntil(timeout: .seconds(20)) { connector.opened.withLock { $0 } >= 3 }
            for _ in 0..<10 {
                let closed = try await pool.withConnection { connection in
                    try await connection.query("SELECT 1", logger: logger)
                    return connection.isClosed
                }
                #expect(!closed)
            }
            #expect(connector.opened.withLock { $0 } == 3)
        }
    }

    @Test("a cancelled waiter leaves the line at once; the connection goes to the next one")
    func cancelledWaiter() async throws {
        let logger = self.logger
        try await withPool(suite: "pool-cancel", limits: .init(maximum: 1, minimum: 1)) { pool, _ in
            let held = try await pool.lease()
            let waiting = Task { try await pool.withConnection { _ in 1 } }
            try await Task.sleep(for: .milliseconds(100))
            let cancelled = ContinuousClock.now
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            // At once: the only other way out of the line is the held connection's release, which never comes first.
            #expect(ContinuousClock.now - cancelled < .seconds(5))
            let next = Task { try await pool.withConnection { try await $0.query("SELECT 1", logger: logger) } }
            try await Task.sleep(for: .milliseconds(50))
            pool.release(held)
            try await next.value
        }
    }

    @Test("shutdown fails the waiters, closes every connection and returns")
    func shutdown() async throws {
        let configuration = try await TestDatabase.configuration(suite: "pool-shutdown")
        let connection = try configuration.connectionConfiguration()
        let pool = PostgresPool(limits: .init(maximum: 1, minimum: 1), logger: logger) { id, logger in
            try await PostgresConnection.connect(configuration: connection, id: id, logger: logger)
        }
        let running = Task { await pool.run() }
        let held = try await pool.lease()
        let waiting = Task { try await pool.withConnection { _ in 1 } }
        try await Task.sleep(for: .milliseconds(100))
        running.cancel()
        await #expect(throws: StoreError.unavailable) { try await waiting.value }
        await running.value
        #expect(held.isClosed)
        await #expect(throws: StoreError.unavailable) { try await pool.lease() }
    }
}
