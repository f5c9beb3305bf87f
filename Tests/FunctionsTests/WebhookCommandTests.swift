import Domain
import Foundation
import HTTPTypes
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions

@Suite("functions sources / endpoints / deliveries commands", .machineShare, .serialized)
struct WebhookCommandTests {
    /// Runs `functions ARGUMENTS`; `withKey: false` leaves FIELD_ENCRYPTION_KEY unset (an operator without it).
    func run(_ arguments: [String], input: String = "", withKey: Bool = true, configuration: DatabaseConfiguration) async throws -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)")
        try Data(input.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = try ChildProcess(
            product: "functions", arguments: arguments,
            environment: ["DATABASE_URL": configuration.url, "WEBHOOK_REQUIRE_HTTPS": "true"]
                .merging(withKey ? ["FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey] : [:]) { $1 },
            standardInput: file
        )
        return (try await process.waitForExit(), process.text)
    }

    @Test("sources: add shows the secret once, list never shows it, rotate and disable work, bad input is one clear line")
    func sources() async throws {
        let configuration = try await TestDatabase.configuration(suite: "webhook-commands")
        let added = try await run(["sources", "add", "--slug", "partner-a", "--scheme", "standard", "--allow", "lab.*"], configuration: configuration)
        #expect(added.0 == 0)
        let secret = try #require(added.1.split(separator: "\n").first { $0.contains("secret (shown once)") }?.split(separator: " ").last)
        #expect(secret.hasPrefix("whsec_"))
        let listed = try await run(["sources", "list"], configuration: configuration)
        #expect(listed.1.contains("partner-a\tstandard\tenabled\ttypes=lab.*"))
        #expect(!listed.1.contains(secret))
        // Listing opens no secret, so it works without the key (the secrets are stored encrypted).
        let keyless = try await run(["sources", "list"], withKey: false, configuration: configuration)
        #expect(keyless.0 == 0 && keyless.1.contains("partner-a\tstandard\tenabled\ttypes=lab.*"), "\(keyless)")
        #expect(try await run(["sources", "add", "--slug", "partner-a"], configuration: configuration).0 == 1)
        #expect(try await run(["sources", "add", "--slug", "Bad Slug!"], configuration: configuration).1.contains("--slug"))
        let own = try await run(["sources", "add", "--slug", "partner-b", "--scheme", "hmac-sha256", "--secret-stdin"], input: "the-partners-own-secret\n", configuration: configuration)
        #expect(own.0 == 0 && !own.1.contains("the-partners-own-secret"))
        let rotated = try await run(["sources", "rotate-secret", "--slug", "partner-a", "--overlap-hours", "1"], configuration: configuration)
        #expect(rotated.0 == 0 && rotated.1.contains("whsec_") && !rotated.1.contains(secret))
        #expect(try await run(["sources", "disable", "--slug", "partner-a"], configuration: configuration).0 == 0)
        #expect(try await run(["sources", "disable", "--slug", "nobody"], configuration: configuration).0 == 1)
    }

    @Test("endpoints and deliveries: https required, secret once, list, disable/enable, replay")
    func endpointsAndDeliveries() async throws {
        let configuration = try await TestDatabase.configuration(suite: "webhook-commands")
        let insecure = try await run(["endpoints", "add", "--url", "http://example.com/hook", "--types", "a.*"], configuration: configuration)
        #expect(insecure.0 == 1 && insecure.1.contains("https"))
        let added = try await run(["endpoints", "add", "--url", "https://example.com/hook", "--types", "a.*,b.c"], configuration: configuration)
        #expect(added.0 == 0)
        let id = try #require(added.1.split(separator: "\n").first { $0.hasPrefix("endpoint ") }?.split(separator: " ")[1])
        let listed = try await run(["endpoints", "list"], configuration: configuration)
        #expect(listed.1.contains(String(id)) && listed.1.contains("https://example.com/hook\ta.*,b.c\tenabled"))
        #expect(!listed.1.contains("whsec_"))
        let keyless = try await run(["endpoints", "list"], withKey: false, configuration: configuration)
        #expect(keyless.0 == 0 && keyless.1.contains("https://example.com/hook\ta.*,b.c\tenabled"), "\(keyless)")
        #expect(try await run(["endpoints", "disable", "--id", String(id), "--reason", "maintenance"], configuration: configuration).0 == 0)
        #expect(try await run(["endpoints", "list"], configuration: configuration).1.contains("disabled (maintenance)"))
        #expect(try await run(["endpoints", "enable", "--id", String(id)], configuration: configuration).0 == 0)
        #expect(try await run(["endpoints", "rotate-secret", "--id", String(id)], configuration: configuration).1.contains("whsec_"))
        try await TestDatabase.with(suite: "webhook-commands") { database in
            let dispatcher = WebhookDispatcher(
                database: database, encryption: try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: false), settings: .testing,
                clients: .forTests
            )
            _ = try await dispatcher.publish(type: "a.x", data: Data("{}".utf8), idempotencyKey: nil, requestID: nil, logger: TestDatabase.quietLogger)
            try await database.withConnection { connection in
                try await connection.query("UPDATE webhook_deliveries SET status = 'failed', attempts = 8", logger: TestDatabase.quietLogger)
            }
        }
        let failed = try await run(["deliveries", "list", "--status", "failed", "--endpoint", String(id)], configuration: configuration)
        let delivery = try #require(failed.1.split(separator: "\n").first?.split(separator: "\t").first)
        #expect(try await run(["deliveries", "replay", String(delivery)], configuration: configuration).0 == 0)
        #expect(try await run(["deliveries", "list", "--status", "pending", "--endpoint", String(id)], configuration: configuration).1.contains(String(delivery)))
        let since = try await run(["deliveries", "replay", "--endpoint", String(id), "--since", "2000-01-01T00:00:00Z"], configuration: configuration)
        #expect(since.0 == 0 && since.1.contains("0 deliveries queued again"))
    }

    @Test("consumers and events: add (ID token audience from the URL), list apart from endpoints, events list/show, replay by id and by source, --failed-only")
    func consumersAndEvents() async throws {
        let suite = "webhook-commands-consumers"
        let configuration = try await TestDatabase.configuration(suite: suite)
        let secret = "partner-c-shared-secret-0001"
        #expect(try await run(["sources", "add", "--slug", "partner-c", "--scheme", "hmac-sha256", "--secret-stdin"], input: secret + "\n", configuration: configuration).0 == 0)
        #expect(try await run(["consumers", "add", "--source", "nobody", "--url", "https://consumer.example.com/hook"], configuration: configuration).0 == 1)
        let added = try await run(
            ["consumers", "add", "--source", "partner-c", "--url", "https://consumer.example.com/hooks/lab", "--types", "lab.*", "--id-token"],
            configuration: configuration
        )
        #expect(added.0 == 0 && added.1.contains("ID token for https://consumer.example.com"))
        let consumer = try #require(added.1.split(separator: "\n").first { $0.hasPrefix("consumer ") }?.split(separator: " ")[1])
        let listed = try await run(["consumers", "list", "--source", "partner-c"], configuration: configuration)
        #expect(listed.1.contains("\(consumer)\tpartner-c\thttps://consumer.example.com/hooks/lab\tlab.*\tenabled\tid_token=https://consumer.example.com"))
        #expect(!listed.1.contains("whsec_"))
        #expect(try await run(["consumers", "list", "--source", "partner-c"], withKey: false, configuration: configuration).1 == listed.1)
        #expect(!(try await run(["endpoints", "list"], configuration: configuration).1.contains(String(consumer))))
        #expect(try await run(["consumers", "disable", "--id", String(consumer), "--reason", "maintenance"], configuration: configuration).0 == 0)
        #expect(try await run(["consumers", "list"], configuration: configuration).1.contains("disabled (maintenance)"))
        #expect(try await run(["consumers", "enable", "--id", String(consumer)], configuration: configuration).0 == 0)
        let rotated = try await run(["consumers", "rotate-secret", "--id", String(consumer), "--overlap-hours", "1"], configuration: configuration)
        #expect(rotated.0 == 0 && rotated.1.contains("whsec_"))

        // An event arrives (with an unsigned header that is recorded, not used).
        let eventID = try await TestDatabase.with(suite: suite) { database in
            let harness = try WebhookHarness(database: database)
            let body = #"{"id":"lab-9","type":"lab.result"}"#
            let headers: HTTPFields = [
                HTTPField.Name("X-Signature")!: WebhookSignature.hex(body: Data(body.utf8), secret: secret), HTTPField.Name("X-Event-Type")!: "admin.delete",
            ]
            let answer = await harness.invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/partner-c", headers: headers, body: Data(body.utf8)))
            #expect(answer.status == .accepted)
            return try #require(answer.json["id"] as? String)
        }
        let events = try await run(["events", "list", "--source", "partner-c", "--type", "lab.*"], configuration: configuration)
        #expect(events.1.contains(eventID) && events.1.contains("lab.result\taccepted\tid=lab-9\tconsumers: 0 succeeded, 1 pending, 0 failed"))
        #expect(try await run(["events", "list", "--type", "order.*"], configuration: configuration).1.isEmpty)
        let shown = try await run(["events", "show", eventID], configuration: configuration)
        #expect(shown.1.contains("admin.delete") && shown.1.contains("consumer \(consumer)") && shown.1.contains("\"id\":\"lab-9\""))
        #expect(try await run(["events", "show", UUID().uuidString], configuration: configuration).0 == 1)

        func setDeliveries(_ status: String) async throws {
            try await TestDatabase.with(suite: suite) { database in
                try await database.withConnection { connection in
                    try await connection.query(
                        "UPDATE webhook_deliveries SET status = \(status), attempts = 3, finished_at = now()", logger: TestDatabase.quietLogger
                    )
                }
            }
        }
        try await setDeliveries("succeeded")
        #expect(try await run(["events", "replay", eventID, "--failed-only"], configuration: configuration).1.contains("0 deliveries queued again, 0 new"))
        #expect(try await run(["events", "replay", eventID], configuration: configuration).1.contains("1 deliveries queued again, 0 new"))
        // A consumer added since gets the event on replay; the first one, failed now, is queued again.
        #expect(try await run(["consumers", "add", "--source", "partner-c", "--url", "https://late.example.com/hook"], configuration: configuration).0 == 0)
        try await setDeliveries("failed")
        let bySource = try await run(["events", "replay", "--source", "partner-c", "--since", "2000-01-01T00:00:00Z", "--failed-only"], configuration: configuration)
        #expect(bySource.1.contains("1 events: 1 deliveries queued again, 1 new"))
        let attempts = try await TestDatabase.with(suite: suite) { database in
            try await database.withConnection { connection in
                var numbers: [Int] = []
                for try await n in try await connection.query("SELECT attempts FROM webhook_deliveries ORDER BY attempts", logger: TestDatabase.quietLogger).decode(Int.self) {
                    numbers.append(n)
                }
                return numbers
            }
        }
        #expect(attempts == [0, 3])  // the replayed delivery keeps its count: its next attempt is the 4th
        // deliveries replay --failed-only leaves successes alone.
        try await setDeliveries("succeeded")
        let none = try await run(["deliveries", "replay", "--endpoint", String(consumer), "--since", "2000-01-01T00:00:00Z", "--failed-only"], configuration: configuration)
        #expect(none.1.contains("0 deliveries queued again"))
        let all = try await run(["deliveries", "replay", "--endpoint", String(consumer), "--since", "2000-01-01T00:00:00Z"], configuration: configuration)
        #expect(all.1.contains("1 deliveries queued again"))
    }
}
