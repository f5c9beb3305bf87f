import Domain
import Foundation
import Store
import Testing
import TestSupport

@testable import Functions

@Suite("functions sources / endpoints / deliveries commands", .serialized)
struct WebhookCommandTests {
    func run(_ arguments: [String], input: String = "", configuration: DatabaseConfiguration) async throws -> (Int32, String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)")
        try Data(input.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = try ChildProcess(
            product: "functions", arguments: arguments,
            environment: ["DATABASE_URL": configuration.url, "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey, "WEBHOOK_REQUIRE_HTTPS": "true"],
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
}
