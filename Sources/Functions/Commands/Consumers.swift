import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO
import Store

/// `functions consumers …`: services that receive a source's accepted events. A consumer is an endpoint bound to
/// a source: the same queue, retries, signatures and SSRF rules as outgoing webhooks.
struct Consumers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consumers of received events: add, list, rotate-secret, disable, enable.",
        subcommands: [Add.self, List.self, RotateSecret.self, Disable.self, Enable.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a consumer of a source's events; prints its whsec_ secret once.")
        @Option(help: "The source whose accepted events it receives.") var source: String
        @Option(help: "The URL (https in production).") var url: String
        @Option(help: "Event types, comma-separated (exact or prefix.*); * (the default) takes every event, untyped ones too.") var types: String = "*"
        @Flag(help: "Send a Google-signed ID token (a private Cloud Run service): audience is the URL's origin unless --audience.") var idToken = false
        @Option(help: "The ID token's audience (implies --id-token).") var audience: String?
        @Option(help: "A note for operators.") var description: String = ""

        func run() async throws {
            let filters = try eventTypes(types)
            guard !filters.isEmpty else { fail("--types must name at least one event type, or *") }
            let configuration = try await loadConfiguration()
            guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty,
                scheme == "https" || (scheme == "http" && !configuration.webhooks.requireHTTPS)
            else { fail("--url must be an https:// URL (http only with WEBHOOK_REQUIRE_HTTPS=false)") }
            // Cloud Run takes the service's URL (its origin) as the audience of an ID token.
            let audience = audience ?? (idToken ? "\(scheme)://\(host)\(parsed.port.map { ":\($0)" } ?? "")" : nil)
            let (url, description, slug) = (url, description, source)
            let added = try await withAdminDatabase { database, configuration, logger in
                try await database.withTransaction { connection -> (id: UUID, secret: String)? in
                    guard let source = try await WebhookSourceStore(encryption: configuration.encryption).find(slug: slug, on: connection, logger: logger) else {
                        return nil
                    }
                    let added = try await WebhookEndpointStore(encryption: configuration.encryption).add(
                        url: url, eventTypes: filters, description: description, sourceID: source.id, idTokenAudience: audience,
                        on: connection, logger: logger
                    )
                    try await audit(
                        "webhook_consumer_add", detail: ["endpoint": added.id.uuidString.lowercased(), "source": slug], on: connection, logger: logger
                    )
                    return added
                }
            }
            guard let added else { fail("no such source: \(source)") }
            say("consumer \(added.id.uuidString.lowercased()) of \(source) added\(audience.map { " (ID token for \($0))" } ?? "")")
            say("secret (shown once): \(added.secret)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List consumers (never their secrets).")
        @Option(help: "Only this source's.") var source: String?

        func run() async throws {
            let slug = source
            let lines = try await withAdminDatabase { database, configuration, logger in
                try await database.withConnection { connection in
                    let sources = try await WebhookSourceStore(encryption: configuration.encryption).listing(on: connection, logger: logger)
                    let names = Dictionary(sources.map { ($0.id, $0.slug) }, uniquingKeysWith: { first, _ in first })
                    return try await WebhookEndpointStore(encryption: configuration.encryption).listing(on: connection, logger: logger)
                        .compactMap { endpoint -> String? in
                            guard let sourceID = endpoint.sourceID, let name = names[sourceID], slug == nil || slug == name else { return nil }
                            let state = endpoint.enabled ? "enabled" : "disabled (\(endpoint.disabledReason ?? "-"))"
                            return "\(endpoint.id.uuidString.lowercased())\t\(name)\t\(endpoint.url)\t\(endpoint.eventTypes.joined(separator: ","))\t"
                                + "\(state)\tid_token=\(endpoint.idTokenAudience ?? "-")\tfailures=\(endpoint.failureStreak)"
                        }
                }
            }
            lines.forEach(say)
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-secret", abstract: "New secret; requests are signed with both during the overlap.")
        @Option(help: "The consumer id.") var id: String
        @Option(help: "Hours the previous secret still signs.") var overlapHours: Int = 24

        func run() async throws {
            var rotate = try Endpoints.RotateSecret.parse(["--id", id, "--overlap-hours", String(overlapHours)])
            try await rotate.run()
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a consumer (its deliveries wait).")
        @Option(help: "The consumer id.") var id: String
        @Option(help: "Why.") var reason: String = "disabled by an operator"
        func run() async throws { try await setEndpoint(id, enabled: false, reason: reason) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a consumer again (clears its failure streak).")
        @Option(help: "The consumer id.") var id: String
        func run() async throws { try await setEndpoint(id, enabled: true, reason: nil) }
    }
}
