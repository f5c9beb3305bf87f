import Domain
import Foundation
import Logging
import PostgresNIO
import Store
import Testing
import TestSupport

@Suite("PostgreSQL store: migrations, counters, unavailability", .machineShare)
struct StoreTests {
    let logger = TestDatabase.quietLogger

    @Test("migrations run once under the advisory lock even when many instances start at once")
    func concurrentMigrations() async throws {
        let admin = try await TestDatabase.admin()
        let name = "migrate_race_\(UInt32.random(in: 0...UInt32.max))"
        let logger = self.logger
        try await TestDatabase.with(suite: "store-admin") { _ in
            let adminDatabase = try Database(configuration: admin, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await adminDatabase.run() }
                try await adminDatabase.withConnection { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
                }
                group.cancelAll()
            }
        }
        let fresh = try Database(configuration: admin.with(database: name), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await fresh.run() }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { racers in
                for _ in 0..<6 { racers.addTask { try await Migrator(database: fresh, logger: logger).migrate() } }
                var all: [[Int]] = []
                for try await result in racers { all.append(result) }
                return all
            }
            #expect(applied.filter { !$0.isEmpty }.count == 1)
            #expect(applied.flatMap { $0 }.sorted() == Migrations.all.map(\.version))
            #expect(try await Migrator(database: fresh, logger: logger).appliedVersions() == Migrations.all.map(\.version))
            #expect(try await Migrator(database: fresh, logger: logger).migrate() == [])
            group.cancelAll()
        }
    }

    @Test("counters commit and roll back with the caller's transaction, and sum across shards")
    func counters() async throws {
        let logger = self.logger
        try await TestDatabase.with(suite: "store-counters") { database in
            let name = "test_events_total_\(UInt32.random(in: 0...UInt32.max))"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        try await database.withTransaction { connection in
                            try await Counters.increment(name, labels: ["outcome": "ok"], on: connection, logger: logger)
                        }
                    }
                }
                try await group.waitForAll()
            }
            struct Rollback: Error {}
            await #expect(throws: Rollback.self) {
                try await database.withTransaction { connection in
                    try await Counters.increment(name, labels: ["outcome": "ok"], by: 1000, on: connection, logger: logger)
                    throw Rollback()
                }
            }
            try await database.withTransaction { connection in
                try await Counters.increment(name, labels: ["outcome": "failed", "reason": "x"], by: 2, on: connection, logger: logger)
            }
            let samples = try await database.withConnection { try await Counters.all(on: $0, logger: logger) }.filter { $0.name == name }
            #expect(samples.count == 2)
            #expect(samples.first { $0.labels == ["outcome": "ok"] }?.value == 40)
            #expect(samples.first { $0.labels == ["outcome": "failed", "reason": "x"] }?.value == 2)
        }
    }

    @Test("an unreachable server is StoreError.unavailable within the acquire timeout, and ping is false")
    func unreachable() async throws {
        let port = try LocalPostgresCluster.freePort()
        let configuration = DatabaseConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port), username: "x", database: "x", sslMode: .disable)
        let database = try Database(configuration: configuration, logger: logger, acquireTimeout: .milliseconds(500))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            let started = ContinuousClock.now
            await #expect(throws: StoreError.unavailable) {
                try await database.withTransaction { connection in try await connection.query("SELECT 1", logger: logger) }
            }
            // 500 ms alone; a loaded parallel suite delays timers and resumptions by seconds, but not by the 10 s a
            // connect attempt may take (which is what a call without an acquire deadline would wait).
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(await database.ping(timeout: .milliseconds(300)) == false)
            group.cancelAll()
        }
    }

    @Test("a call still running after the call timeout is answered unavailable; the pool keeps serving")
    func callTimeout() async throws {
        let configuration = try await TestDatabase.configuration(suite: "store-call-timeout")
        // This is about calls that got their connection; the call deadline (3 s, counted from the call's start) only
        // applies when it is longer than the acquire deadline.
        let database = try Database(configuration: configuration, logger: logger, acquireTimeout: .seconds(2), callTimeout: .seconds(3))
        let logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            let started = ContinuousClock.now
            await #expect(throws: StoreError.unavailable) {
                try await database.withConnection { connection in try await connection.query("SELECT pg_sleep(6)", logger: logger) }
            }
            let waited = ContinuousClock.now - started
            #expect(waited >= .seconds(3) && waited < .milliseconds(5500), "\(waited)")
            // The pool opens a connection in the closed one's place; on a loaded machine a backend can take longer
            // to start than the 2 s acquire deadline, so a call is tried until one is served (at most 20 s).
            var answer = 0
            let retryUntil = ContinuousClock.now + .seconds(20)
            while answer == 0 {
                do {
                    answer = try await database.withConnection { connection in
                        var value = 0
                        for try await number in try await connection.query("SELECT 7", logger: logger).decode(Int.self) { value = number }
                        return value
                    }
                } catch StoreError.unavailable where ContinuousClock.now < retryUntil {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(answer == 7)
            group.cancelAll()
        }
    }

    @Test(
        "a call that is never answered (postgres-nio#487: a query written as its connection closes) is answered unavailable at the call timeout, and the pool still shuts down",
        // Catches a hang; the limit also counts the wait for a machine share, a minute or more on a loaded run.
        .timeLimit(.minutes(5))
    )
    func neverAnswered() async throws {
        let configuration = try await TestDatabase.configuration(suite: "store-never-answered")
        let database = try Database(configuration: configuration, logger: logger, acquireTimeout: .seconds(2), callTimeout: .seconds(3))
        let stuck = Locked<CheckedContinuation<Void, Never>?>(nil)
        let logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await database.run() }
            // A connection first, so that the call below is leased well inside its acquire deadline.
            try await database.withConnection { connection in try await connection.query("SELECT 1", logger: logger) }
            let started = ContinuousClock.now
            // The body waits for an answer that never comes and ignores cancellation, as such a query does.
            await #expect(throws: StoreError.unavailable) {
                try await database.withConnection { _ in
                    await withCheckedContinuation { continuation in stuck.withLock { $0 = continuation } }
                }
            }
            let waited = ContinuousClock.now - started
            #expect(waited >= .seconds(3) && waited < .seconds(8), "\(waited)")
            // The pool serves on another connection (opened now: under a loaded parallel suite that can take seconds).
            #expect(await database.ping(timeout: .seconds(10)))
            group.cancelAll()
        }
        stuck.withLock { $0?.resume() }
    }

    @Test("a query error is not mistaken for unavailability, and SQL binds never concatenate")
    func queryErrors() async throws {
        let logger = self.logger
        try await TestDatabase.with(suite: "store-errors") { database in
            let error = await #expect(throws: StoreError.self) {
                try await database.withConnection { connection in try await connection.query("SELECT * FROM no_such_table", logger: logger) }
            }
            #expect(error == .queryFailed(sqlState: "42P01", objects: ""))
            // The server's message quotes input; the error keeps only the SQLSTATE and object names.
            let duplicate = await #expect(throws: StoreError.self) {
                try await database.withTransaction { connection in
                    try await connection.query("CREATE TEMP TABLE t (email text UNIQUE)", logger: logger)
                    try await connection.query("INSERT INTO t VALUES ('jane@example.com'), ('jane@example.com')", logger: logger)
                }
            }
            #expect(duplicate == .queryFailed(sqlState: "23505", objects: "table=t constraint=t_email_key"))
            #expect(!"\(duplicate!)".contains("jane"))
            let hostile = "x'); DROP TABLE counters; --"
            let echoed = try await database.withConnection { connection in
                let rows = try await connection.query("SELECT \(hostile)::text", logger: logger)
                var values: [String] = []
                for try await value in rows.decode(String.self) { values.append(value) }
                return values
            }
            #expect(echoed == [hostile])
            #expect(await database.ping())
        }
    }
}
