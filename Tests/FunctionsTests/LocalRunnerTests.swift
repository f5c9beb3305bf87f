import Domain
import Foundation
import Store
import Testing
import TestSupport

@Suite("functions local (real process, its own PostgreSQL cluster)", .serialized)
struct LocalRunnerTests {
    @Test("creates a private cluster, migrates, serves every function, stops the cluster on SIGTERM; a second start reuses it")
    func localRunner() async throws {
        let folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("functions-local-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = ["LOG_LEVEL": "notice", "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000"]
        var firstPort = 0
        for round in 0..<2 {
            // The second start runs the retention purge every second (the default is hourly).
            let process = try ChildProcess(
                product: "functions", arguments: ["local", "--port", "0", "--data-directory", folder.path] + (round == 1 ? ["--maintain-every", "1"] : []),
                environment: environment
            )
            let port = try await process.listeningPort(timeout: .seconds(90))
            #expect(try await HTTPTestClient.send(port: port, path: "/health").status == 200)
            #expect(try await HTTPTestClient.send(port: port, path: "/ready").status == 200)
            #expect(try await HTTPTestClient.send(port: port, path: "/metrics/").status == 200)
            let login = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/login/", headers: [("Content-Type", "application/json")],
                body: Data(#"{"username":"nobody","password":"x"}"#.utf8)
            )
            #expect(login.status == 401)
            #expect(process.text.contains("http://127.0.0.1:\(port)/login/"))
            if round == 0 { firstPort = port }
            let cluster = try LocalPostgresCluster(directory: folder)
            let clusterPort = try #require(cluster.runningPort())
            let configuration = DatabaseConfiguration(endpoint: .tcp(host: "127.0.0.1", port: clusterPort), username: "postgres", database: "functions", sslMode: .disable)
            let expired = try await Self.expiredAuditRows(configuration, insert: round == 0)
            if round == 0 {
                #expect(expired == 1)
            } else {
                // Purged by the runner's own schedule, not by a request.
                var left = expired
                let deadline = ContinuousClock.now + .seconds(20)
                while left > 0, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(250))
                    left = try await Self.expiredAuditRows(configuration, insert: false)
                }
                #expect(left == 0, "the local runner's maintenance did not purge the expired audit row")
            }
            process.signal(SIGTERM)
            #expect(try await process.waitForExit(timeout: .seconds(60)) == 0)
            #expect(cluster.runningPort() == nil, "the cluster on \(clusterPort) must be stopped")
            #expect(process.text.contains(round == 0 ? "applied migration" : "migrations up to date"))
        }
        #expect(firstPort != 0)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("data/PG_VERSION").path))
    }

    /// Audit rows older than the seven years kept; `insert` adds one first.
    static func expiredAuditRows(_ configuration: DatabaseConfiguration, insert: Bool) async throws -> Int {
        let database = try Database(configuration: configuration, logger: TestDatabase.quietLogger)
        return try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                await database.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await database.withConnection { connection in
                if insert {
                    try await connection.query(
                        "INSERT INTO audit_events (at, action, outcome) VALUES (now() - interval '8 years', 'expired', 'success')", logger: TestDatabase.quietLogger
                    )
                }
                for try await count in try await connection.query(
                    "SELECT count(*)::int FROM audit_events WHERE at < now() - interval '7 years'", logger: TestDatabase.quietLogger
                ).decode(Int.self) { return count }
                return -1
            }
        }
    }
}
