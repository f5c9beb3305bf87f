import Domain
import Foundation
import PostgresNIO
import Store
import Testing
import TestSupport

@testable import Functions

/// Dispatchers as real processes on one database: concurrency and crashes.
@Suite("webhook-dispatch processes: four at once, and one killed mid-batch", .machineShare, .serialized)
struct WebhookProcessTests {
    func environment(_ configuration: DatabaseConfiguration, _ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "FUNCTION_TARGET": "webhook-dispatch", "PORT": "0",
            "HOST": "127.0.0.1", "LOG_LEVEL": "notice", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_TIMEOUT_SECONDS": "5",
            "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey,
            // These tests are about drains: publishing leaves every attempt to them.
            "WEBHOOK_IMMEDIATE_BUDGET_MS": "0",
        ]
        environment.merge(extra) { _, new in new }
        return environment
    }

    func publish(_ count: Int, port: Int) async throws {
        for index in 0..<count {
            let response = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/events", headers: [("Content-Type", "application/json")],
                body: Data(#"{"type":"load.test","data":{"n":\#(index)}}"#.utf8)
            )
            #expect(response.status == 202)
        }
    }

    @Test("four dispatcher processes draining one database at once: every message once at the sink, every attempt number once")
    func fourDispatchers() async throws {
        let configuration = try await TestDatabase.configuration(suite: "webhook-four")
        let sink = WebhookSink { _, _ in .init(status: 200, delay: .milliseconds(5)) }
        try await sink.run { base in
            let processes = try (0..<4).map { _ in try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration)) }
            var ports: [Int] = []
            for process in processes { ports.append(try await process.listeningPort()) }
            try await TestDatabase.with(suite: "webhook-four") { database in
                let store = WebhookEndpointStore(encryption: try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: false))
                _ = try await database.withConnection { try await store.add(url: base + "/in", eventTypes: ["load.*"], description: "", on: $0, logger: TestDatabase.quietLogger) }
            }
            try await publish(300, port: ports[0])
            let reports = try await withThrowingTaskGroup(of: DrainReport.self) { group in
                for port in ports {
                    group.addTask {
                        let response = try await HTTPTestClient.send(port: port, method: "POST", path: "/drain", body: Data())
                        return try JSONDecoder().decode(DrainReport.self, from: response.body)
                    }
                }
                var all: [DrainReport] = []
                for try await report in group { all.append(report) }
                return all
            }
            let succeeded = reports.map(\.succeeded).reduce(0, +)
            #expect(succeeded == 300)
            let ids = sink.requests.compactMap { $0.headers["webhook-id"] }
            #expect(ids.count == 300)
            #expect(Set(ids).count == 300)
            let attempts = try await TestDatabase.with(suite: "webhook-four") { database in
                try await database.withConnection { connection in
                    var rows: [(Int, Int)] = []
                    for try await row in try await connection.query(
                        "SELECT attempt, count(*)::int FROM webhook_attempts GROUP BY attempt", logger: TestDatabase.quietLogger
                    ).decode((Int, Int).self) { rows.append(row) }
                    return rows
                }
            }
            #expect(attempts.count == 1 && attempts.first?.0 == 1 && attempts.first?.1 == 300)
            for process in processes { process.signal(SIGTERM) }
            for process in processes { #expect(try await process.waitForExit() == 0) }
        }
    }

    @Test("a dispatcher killed with SIGKILL mid-batch: its deliveries complete after the lease, the lost attempt recorded")
    func killedMidBatch() async throws {
        let configuration = try await TestDatabase.configuration(suite: "webhook-kill")
        let sink = WebhookSink { index, _ in index < 16 ? .init(status: 200, delay: .seconds(30)) : .init(status: 200) }
        try await sink.run { base in
            let first = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration, ["WEBHOOK_TIMEOUT_SECONDS": "60"]))
            let port = try await first.listeningPort()
            try await TestDatabase.with(suite: "webhook-kill") { database in
                let store = WebhookEndpointStore(encryption: try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: false))
                _ = try await database.withConnection { try await store.add(url: base + "/in", eventTypes: ["load.*"], description: "", on: $0, logger: TestDatabase.quietLogger) }
            }
            try await publish(20, port: port)
            async let drain = try? HTTPTestClient.send(port: port, method: "POST", path: "/drain", body: Data())
            while sink.requests.count < 16 { try await Task.sleep(for: .milliseconds(20)) }
            first.signal(SIGKILL)
            _ = try await first.waitForExit()
            _ = await drain
            // Time passes for the database: the dead dispatcher's lease runs out.
            try await TestDatabase.with(suite: "webhook-kill") { database in
                try await database.withConnection { connection in
                    try await connection.query(
                        "UPDATE webhook_deliveries SET claimed_until = now() - interval '1 second' WHERE claimed_until IS NOT NULL",
                        logger: TestDatabase.quietLogger
                    )
                }
            }
            let second = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration))
            let secondPort = try await second.listeningPort()
            let response = try await HTTPTestClient.send(port: secondPort, method: "POST", path: "/drain", body: Data())
            let report = try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
            #expect(report["succeeded"] as? Int == 20)
            let rows = try await TestDatabase.with(suite: "webhook-kill") { database in
                try await database.withConnection { connection in
                    var rows: [(Int, String?, Int?)] = []
                    for try await row in try await connection.query(
                        "SELECT attempt, error_kind, status_code FROM webhook_attempts ORDER BY delivery_id, attempt", logger: TestDatabase.quietLogger
                    ).decode((Int, String?, Int?).self) { rows.append(row) }
                    return rows
                }
            }
            #expect(rows.filter { $0.0 == 1 }.allSatisfy { $0.1 == "lease_expired" })
            #expect(rows.filter { $0.0 == 1 }.count == 20)
            #expect(rows.filter { $0.0 == 2 }.allSatisfy { $0.2 == 200 } && rows.filter { $0.0 == 2 }.count == 20)
            second.signal(SIGTERM)
            _ = try await second.waitForExit()
        }
    }
}
