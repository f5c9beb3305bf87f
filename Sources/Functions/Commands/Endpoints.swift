import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO
import Store

/// `functions endpoints …`: outgoing subscriptions.
struct Endpoints: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Outgoing webhook subscriptions: add, list, rotate-secret, disable, enable.",
        subcommands: [Add.self, List.self, RotateSecret.self, Disable.self, Enable.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an endpoint; prints its whsec_ secret once.")
        @Option(help: "The URL (https in production).") var url: String
        @Option(help: "Event types, comma-separated (exact or prefix.*).") var types: String
        @Option(help: "A note for operators.") var description: String = ""

        func run() async throws {
            let filters = try eventTypes(types)
            guard !filters.isEmpty else { fail("--types must name at least one event type") }
            let configuration = try await loadConfiguration()
            guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), parsed.host?.isEmpty == false,
                scheme == "https" || (scheme == "http" && !configuration.webhooks.requireHTTPS)
            else { fail("--url must be an https:// URL (http only with WEBHOOK_REQUIRE_HTTPS=false)") }
            let (id, secret) = try await withAdminDatabase { database, configuration, logger in
                try await database.withTransaction { connection in
                    let added = try await WebhookEndpointStore(encryption: configuration.encryption)
                        .add(url: url, eventTypes: filters, description: description, on: connection, logger: logger)
                    try await audit("webhook_endpoint_add", detail: ["endpoint": added.id.uuidString.lowercased()], on: connection, logger: logger)
                    return added
                }
            }
            say("endpoint \(id.uuidString.lowercased()) added")
            say("secret (shown once): \(secret)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints (never their secrets).")

        func run() async throws {
            let endpoints = try await withAdminDatabase { database, configuration, logger in
                try await database.withConnection { try await WebhookEndpointStore(encryption: configuration.encryption).listing(on: $0, logger: logger) }
            }
            // Consumers of received events are listed by `functions consumers list`.
            for endpoint in endpoints where endpoint.sourceID == nil {
                let state = endpoint.enabled ? "enabled" : "disabled (\(endpoint.disabledReason ?? "-"))"
                say("\(endpoint.id.uuidString.lowercased())\t\(endpoint.url)\t\(endpoint.eventTypes.joined(separator: ","))\t\(state)\tfailures=\(endpoint.failureStreak)")
            }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-secret", abstract: "New secret; requests are signed with both during the overlap.")
        @Option(help: "The endpoint id.") var id: String
        @Option(help: "Hours the previous secret still signs.") var overlapHours: Int = 24

        func run() async throws {
            guard let uuid = UUID(uuidString: id) else { fail("--id must be an endpoint id") }
            let until = Date().addingTimeInterval(Double(overlapHours) * 3600)
            let secret = try await withAdminDatabase { database, configuration, logger in
                try await database.withTransaction { connection in
                    let secret = try await WebhookEndpointStore(encryption: configuration.encryption)
                        .rotate(id: uuid, overlapUntil: until, on: connection, logger: logger)
                    if secret != nil { try await audit("webhook_endpoint_rotate", detail: ["endpoint": id.lowercased()], on: connection, logger: logger) }
                    return secret
                }
            }
            guard let secret else { fail("no such endpoint") }
            say("secret (shown once): \(secret)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an endpoint (its deliveries wait).")
        @Option(help: "The endpoint id.") var id: String
        @Option(help: "Why.") var reason: String = "disabled by an operator"
        func run() async throws { try await setEndpoint(id, enabled: false, reason: reason) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable an endpoint again (clears its failure streak).")
        @Option(help: "The endpoint id.") var id: String
        func run() async throws { try await setEndpoint(id, enabled: true, reason: nil) }
    }
}
