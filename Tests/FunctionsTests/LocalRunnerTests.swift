import Domain
import Foundation
import Store
import Testing
import TestSupport

@Suite("functions local (real process, its own PostgreSQL cluster)", .machineShare, .serialized)
struct LocalRunnerTests {
    @Test("creates a private cluster, migrates, serves every function, stops the cluster on SIGTERM; a second start reuses it")
    func localRunner() async throws {
        let folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("functions-local-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = ["LOG_LEVEL": "notice", "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000"]
        var firstPort = 0
        for round in 0..<2 {
            // The second start runs every schedule (the drains, the retention purge) every second.
            let process = try ChildProcess(
                product: "functions", arguments: ["local", "--port", "0", "--data-directory", folder.path] + (round == 1 ? ["--tick-seconds", "1"] : []),
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

    @Test("from a folder with no cluster yet: local comes up, the banner's commands work without DATABASE_URL, and a failed delivery is retried by the runner's own scheduler")
    func fromAnEmptyFolder() async throws {
        // A folder that is not a checkout: the runner and the commands find its .local/postgres the same way.
        let folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("functions-newcomer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = ["LOG_LEVEL": "notice", "PASSWORD_HASH_ITERATIONS": "1000", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"]
        let sink = WebhookSink { index, _ in .init(status: index == 0 ? 500 : 200) }
        try await sink.run { base in
            let spec = FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml").path
            let runner = try ChildProcess(
                product: "functions", arguments: ["local", "--port", "0", "--tick-seconds", "1", "--file", spec], environment: environment, directory: folder
            )
            let port = try await runner.listeningPort(timeout: .seconds(90))
            #expect(runner.text.contains("Scheduler: "), "\(runner.text)")
            func command(_ arguments: [String], input: String = "") async throws -> (Int32, String) {
                let stdin = folder.appendingPathComponent("stdin-\(UUID().uuidString)")
                try Data(input.utf8).write(to: stdin)
                let process = try ChildProcess(product: "functions", arguments: arguments, environment: environment, directory: folder, standardInput: stdin)
                return (try await process.waitForExit(timeout: .seconds(60)), process.text)
            }
            let password = "a-long-enough-passphrase-\(UUID().uuidString.prefix(6))"
            let user = try await command(["users", "create", "--username", "admin"], input: password + "\n" + password + "\n")
            #expect(user.0 == 0 && user.1.contains("using the local runner's PostgreSQL"), "\(user.1)")
            let login = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/login/", headers: [("Content-Type", "application/json")],
                body: Data(#"{"username":"admin","password":"\#(password)"}"#.utf8)
            )
            #expect(login.status == 200)
            #expect(try await command(["sources", "add", "--slug", "partner", "--scheme", "standard"]).0 == 0)
            let endpoint = try await command(["endpoints", "add", "--url", base + "/hook", "--types", "lab.*"])
            #expect(endpoint.0 == 0, "\(endpoint.1)")
            let published = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/webhook-dispatch/events", headers: [("Content-Type", "application/json")],
                body: Data(#"{"type":"lab.result","data":{"n":1}}"#.utf8)
            )
            #expect(published.status == 202, "\(published.text)")
            // The first attempt gets a 500; the retry (due 5 s later) is made by a tick of the runner's scheduler.
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(200)) { sink.requests.count >= 2 }
            #expect(sink.requests.count == 2 && Set(sink.requests.compactMap { $0.headers["webhook-id"] }).count == 1)
            #expect(runner.text.contains("scheduler: POST /webhook-dispatch/drain 200"), "\(runner.text.suffix(2000))")
            runner.signal(SIGTERM)
            #expect(try await runner.waitForExit(timeout: .seconds(60)) == 0)
            // With the runner stopped, a command starts the cluster for itself and stops it again.
            let listed = try await command(["endpoints", "list"])
            #expect(listed.0 == 0 && listed.1.contains(base + "/hook"), "\(listed.1)")
            #expect(try LocalPostgresCluster(directory: folder.appendingPathComponent(".local/postgres")).runningPort() == nil)
        }
    }

    @Test("on a terminal (or with --log-format human) the runner writes one readable line per request, not JSON (without a terminal it writes JSON, as the other runner tests read)")
    func humanLogs() async throws {
        // On the test PostgreSQL (DATABASE_URL), so no cluster of its own is made.
        let configuration = try await TestDatabase.configuration(suite: "local-human-logs")
        let environment = ["LOG_LEVEL": "info", "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000", "DATABASE_URL": configuration.url]
        let runner = try ChildProcess(product: "functions", arguments: ["local", "--port", "0", "--log-format", "human"], environment: environment)
        try await runner.waitForOutput("Functions are up on http://127.0.0.1:", timeout: .seconds(90))
        let banner = try #require(runner.text.split(separator: "\n").first { $0.hasPrefix("Functions are up on http://127.0.0.1:") })
        let port = try #require(Int(banner.dropFirst("Functions are up on http://127.0.0.1:".count).prefix { $0.isNumber }))
        #expect(try await HTTPTestClient.send(port: port, method: "GET", path: "/login/").status == 405)
        try await runner.waitForOutput(" login GET /login/ 405 ", timeout: .seconds(10))
        let line = try #require(runner.text.split(separator: "\n").first { $0.contains(" login GET /login/ 405 ") })
        #expect(line.range(of: #"^\d\d:\d\d:\d\d\.\d{3} login GET /login/ 405 \d+ ms req=[0-9a-f]{8}$"#, options: .regularExpression) != nil, "\(line)")
        #expect(!runner.text.split(separator: "\n").contains { $0.hasPrefix("{") }, "\(runner.text)")
        runner.signal(SIGTERM)
        #expect(try await runner.waitForExit(timeout: .seconds(60)) == 0)
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
