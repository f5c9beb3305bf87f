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
            let process = try ChildProcess(
                product: "functions", arguments: ["local", "--port", "0", "--data-directory", folder.path], environment: environment
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
            process.signal(SIGTERM)
            #expect(try await process.waitForExit(timeout: .seconds(60)) == 0)
            #expect(cluster.runningPort() == nil, "the cluster on \(clusterPort) must be stopped")
            #expect(process.text.contains(round == 0 ? "applied migration" : "migrations up to date"))
        }
        #expect(firstPort != 0)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("data/PG_VERSION").path))
    }
}
