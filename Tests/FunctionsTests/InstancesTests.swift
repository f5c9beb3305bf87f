import Domain
import Foundation
import PostgresNIO
import Store
import Synchronization
import Testing
import TestSupport

@testable import Functions

/// Several instances of every function on one database, as Cloud Run scales them: each function asked the same
/// thing by every instance at once does it once.
@Suite("three instances of every function on one database (real processes)", .machineShare, .serialized)
struct InstancesTests {
    static let token = "instances-test-internal-token-0123456789"
    static let sourceSecret = "instances-shared-secret-0001"

    func environment(_ url: String) -> [String: String] {
        [
            "DATABASE_URL": url, "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000", "PORT": "0", "HOST": "127.0.0.1",
            "LOG_LEVEL": "notice", "INTERNAL_API_TOKEN": Self.token, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey, "EMAIL_BACKEND": "console", "ALERT_RECIPIENTS": "oncall@example.com",
        ]
    }

    /// Sends the same request to every port at once (twice each); the responses in port order.
    func everywhere(
        _ ports: [Int], method: String = "POST", path: String, headers: [(String, String)] = [], body: String
    ) async throws -> [HTTPTestClient.Response] {
        try await withThrowingTaskGroup(of: (Int, HTTPTestClient.Response).self) { group in
            for (index, port) in (ports + ports).enumerated() {
                group.addTask {
                    (index, try await HTTPTestClient.send(port: port, method: method, path: path, headers: headers, body: Data(body.utf8)))
                }
            }
            var responses: [(Int, HTTPTestClient.Response)] = []
            for try await response in group { responses.append(response) }
            return responses.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    func count(_ sql: String, on database: Database) async throws -> Int {
        try await database.withConnection { connection in
            var value = 0
            for try await number in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.quietLogger).decode(Int.self) {
                value = number
            }
            return value
        }
    }

    @Test("login, refresh, receive, publish and drain, send-alert and metrics asked by three instances at once: each done once")
    func threeInstances() async throws {
        let configuration = try await TestDatabase.configuration(suite: "instances")
        let sink = WebhookSink { _, _ in .init(status: 200) }
        try await sink.run { base in
            let username = "nurse-\(UUID().uuidString.prefix(8))"
            try await TestDatabase.with(suite: "instances") { database in
                let logger = TestDatabase.quietLogger
                let encryption = try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: false)
                try await database.withTransaction { connection in
                    _ = try await UserStore.create(
                        username: username, email: "\(username)@example.com",
                        passwordHash: DjangoPasswordHasher(iterations: 1000).hash(AuthHarness.password), isStaff: false, now: Date(),
                        on: connection, logger: logger
                    )
                    _ = try await WebhookSourceStore(encryption: encryption).add(
                        slug: "lab", scheme: .hmacSHA256, secret: Self.sourceSecret, allowedEventTypes: [], on: connection, logger: logger
                    )
                    _ = try await WebhookEndpointStore(encryption: encryption).add(
                        url: base + "/in", eventTypes: ["ward.*"], description: "", on: connection, logger: logger
                    )
                }
            }
            let processes = try (0..<3).map { _ in try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration.url)) }
            var ports: [Int] = []
            for process in processes { ports.append(try await process.listeningPort()) }
            let bearer = ("Authorization", "Bearer \(Self.token)")
            let json = ("Content-Type", "application/json")

            // login works on every instance; one refresh token spent on all of them at once: exactly one 200.
            // Once per instance: six at once would pass the brute-force limit, which reserves a row per attempt
            // (five per user) until the attempt succeeds.
            let logins = try await ports.asyncConcurrentMap { port in
                try await HTTPTestClient.send(
                    port: port, method: "POST", path: "/login/", headers: [json],
                    body: Data(#"{"username":"\#(username)","password":"\#(AuthHarness.password)"}"#.utf8)
                )
            }
            #expect(
                logins.allSatisfy { $0.status == 200 },
                "\(logins.map(\.status)) \(processes.flatMap { $0.text.split(separator: "\n").filter { $0.contains("ERROR") || $0.contains("failed") } })"
            )
            let refresh = try #require((try JSONSerialization.jsonObject(with: logins[0].body) as? [String: String])?["refresh"])
            let refreshes = try await everywhere(ports, path: "/refresh/", headers: [json], body: #"{"refresh":"\#(refresh)"}"#)
            #expect(refreshes.filter { $0.status == 200 }.count == 1, "\(refreshes.map(\.status))")
            #expect(refreshes.filter { $0.status == 401 }.count == refreshes.count - 1)

            // One sender message received by every instance at once: one row, the same answer everywhere.
            let event = #"{"id":"evt-1","type":"ward.alarm","data":{"bed":3}}"#
            let signature = WebhookSignature.hex(body: Data(event.utf8), secret: Self.sourceSecret)
            let received = try await everywhere(ports, path: "/webhook-receive/lab", headers: [json, ("X-Signature", signature)], body: event)
            #expect(received.allSatisfy { $0.status == 202 } && Set(received.map(\.text)).count == 1, "\(received.map(\.status))")

            // One publication with one idempotency key everywhere, then every instance drains at once: one request at the sink.
            let published = try await everywhere(
                ports, path: "/webhook-dispatch/events", headers: [json, bearer], body: #"{"type":"ward.alarm","data":{"bed":3},"idempotency_key":"k-1"}"#
            )
            #expect(published.allSatisfy { $0.status == 202 } && Set(published.map(\.text)).count == 1, "\(published.map(\.text))")
            let drains = try await everywhere(ports, path: "/webhook-dispatch/drain", headers: [bearer], body: "")
            #expect(drains.allSatisfy { $0.status == 200 })
            #expect(sink.requests.count == 1)

            // One alert with one idempotency key everywhere: one alert, one email line across all instances.
            let alert = #"{"alert_type":"drift","severity":"warning","subject":"Drift on ward 3","message":"m","idempotency_key":"a-1"}"#
            let alerts = try await everywhere(ports, path: "/send-alert/", headers: [json, bearer], body: alert)
            #expect(alerts.allSatisfy { $0.status == 202 } && Set(alerts.map(\.text)).count == 1, "\(alerts.map(\.text))")
            // The line is written as the alert is stored; the processes' output reaches its files a little later.
            func emailLines() -> Int { processes.map { $0.text.components(separatedBy: "email (console backend)").count - 1 }.reduce(0, +) }
            try await waitUntil(timeout: .seconds(10)) { emailLines() > 0 }
            try await Task.sleep(for: .milliseconds(300))  // time for a second line, were there one
            #expect(emailLines() == 1)

            let counts = try await TestDatabase.with(suite: "instances") { database in
                var counts: [Int] = []
                for table in [
                    "refresh_tokens WHERE used_at IS NOT NULL", "webhook_events", "webhook_messages", "webhook_attempts", "alerts", "alert_send_attempts",
                ] {
                    counts.append(try await count("SELECT count(*)::int FROM \(table)", on: database))
                }
                return counts
            }
            // One token spent; one event, one message, one attempt; one alert, one send attempt.
            #expect(counts == [1, 1, 1, 1, 1, 1])

            // Every instance serves the same counters: they live in PostgreSQL.
            let pages = try await ports.asyncMap { port in
                try await HTTPTestClient.send(port: port, path: "/metrics/", headers: [bearer]).text
                    .split(separator: "\n").filter { $0.hasPrefix("webhook_received_total{") || $0.hasPrefix("alerts_total{") }
            }
            #expect(!pages[0].isEmpty && pages.allSatisfy { $0 == pages[0] }, "\(pages)")

            for process in processes { process.signal(SIGTERM) }
            for process in processes { #expect(try await process.waitForExit() == 0) }
        }
    }
}

extension Array where Element: Sendable {
    func asyncConcurrentMap<T: Sendable>(_ transform: @escaping @Sendable (Element) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            for (index, element) in enumerated() { group.addTask { (index, try await transform(element)) } }
            var results: [(Int, T)] = []
            for try await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
