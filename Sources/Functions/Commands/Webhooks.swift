import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO

/// `functions sources …`: incoming webhook partners. A secret is shown once, when created or rotated.
struct Sources: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Incoming webhook partners: add, list, rotate-secret, disable.",
        subcommands: [Add.self, List.self, RotateSecret.self, Disable.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a source; prints its secret once (or reads the partner's from stdin).")
        @Option(help: "The path segment partners post to.") var slug: String
        @Option(help: "standard (Standard Webhooks) or hmac-sha256 (X-Signature).") var scheme: String = "standard"
        @Option(help: "Allowed event types, comma-separated (exact or prefix.*); empty allows all.") var allow: String = ""
        @Flag(help: "Read the partner's secret from stdin instead of generating one.") var secretStdin = false

        func run() async throws {
            guard let scheme = WebhookSource.Scheme(rawValue: scheme) else { fail("--scheme must be standard or hmac-sha256") }
            guard slug.range(of: "^[a-z0-9][a-z0-9_-]{0,62}$", options: .regularExpression) != nil else {
                fail("--slug must be lowercase letters, digits, - and _ (1-63)")
            }
            let types = try eventTypes(allow)
            let secret = secretStdin ? (readLine(strippingNewline: true) ?? "") : WebhookSignature.newSecret()
            guard secret.utf8.count >= 16 else { fail("the secret must be at least 16 characters") }
            let added = try await withAdminDatabase { database, configuration, logger in
                try await database.withTransaction { connection in
                    let store = WebhookSourceStore(encryption: configuration.encryption)
                    let added = try await store.add(slug: slug, scheme: scheme, secret: secret, allowedEventTypes: types, on: connection, logger: logger)
                    if added { try await audit("webhook_source_add", detail: ["source": slug], on: connection, logger: logger) }
                    return added
                }
            }
            guard added else { fail("a source with that slug already exists") }
            say("source \(slug) added (\(scheme.rawValue)); partners post to /\(slug)")
            if !secretStdin { say("secret (shown once): \(secret)") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sources (never their secrets).")

        func run() async throws {
            let sources = try await withAdminDatabase { database, configuration, logger in
                try await database.withConnection { try await WebhookSourceStore(encryption: configuration.encryption).all(on: $0, logger: logger) }
            }
            for source in sources {
                let types = source.allowedEventTypes.isEmpty ? "*" : source.allowedEventTypes.joined(separator: ",")
                say("\(source.slug)\t\(source.scheme.rawValue)\t\(source.enabled ? "enabled" : "disabled")\ttypes=\(types)")
            }
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-secret", abstract: "New secret; the old one keeps working for the overlap.")
        @Option(help: "The source.") var slug: String
        @Option(help: "Hours the previous secret stays valid.") var overlapHours: Int = 24
        @Flag(help: "Read the new secret from stdin instead of generating one.") var secretStdin = false

        func run() async throws {
            let secret = secretStdin ? (readLine(strippingNewline: true) ?? "") : WebhookSignature.newSecret()
            guard secret.utf8.count >= 16 else { fail("the secret must be at least 16 characters") }
            let until = Date().addingTimeInterval(Double(overlapHours) * 3600)
            let rotated = try await withAdminDatabase { database, configuration, logger in
                try await database.withTransaction { connection in
                    let done = try await WebhookSourceStore(encryption: configuration.encryption)
                        .rotate(slug: slug, newSecret: secret, overlapUntil: until, on: connection, logger: logger)
                    if done { try await audit("webhook_source_rotate", detail: ["source": slug], on: connection, logger: logger) }
                    return done
                }
            }
            guard rotated else { fail("no such source") }
            say("secret of \(slug) rotated; the previous one is accepted for \(overlapHours) h")
            if !secretStdin { say("secret (shown once): \(secret)") }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a source (its requests get 404).")
        @Option(help: "The source.") var slug: String

        func run() async throws {
            let done = try await withAdminDatabase { database, configuration, logger in
                try await database.withTransaction { connection in
                    let done = try await WebhookSourceStore(encryption: configuration.encryption).setEnabled(slug: slug, false, on: connection, logger: logger)
                    if done { try await audit("webhook_source_disable", detail: ["source": slug], on: connection, logger: logger) }
                    return done
                }
            }
            guard done else { fail("no such source") }
            say("source \(slug) disabled")
        }
    }
}

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
            let configuration = try loadConfiguration()
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
                try await database.withConnection { try await WebhookEndpointStore(encryption: configuration.encryption).all(on: $0, logger: logger) }
            }
            for endpoint in endpoints {
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

/// `functions deliveries …`: inspect and replay.
struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Webhook deliveries: list, replay.", subcommands: [List.self, Replay.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recent deliveries with their state.")
        @Option(help: "Only this status (pending, succeeded, failed).") var status: String?
        @Option(help: "Only this endpoint id.") var endpoint: String?
        @Option(help: "How many.") var limit: Int = 50

        func run() async throws {
            let endpointID = try endpoint.map { (text: String) throws -> UUID in
                guard let id = UUID(uuidString: text) else { fail("--endpoint must be an endpoint id") }
                return id
            }
            let (status, limit) = (status, limit)
            let rows = try await withAdminDatabase { database, _, logger in
                try await database.withConnection { connection in
                    let rows = try await connection.query(
                        """
                        SELECT d.id, d.endpoint_id, m.event_type, d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at
                        FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
                        WHERE (\(status)::text IS NULL OR d.status = \(status)) AND (\(endpointID)::uuid IS NULL OR d.endpoint_id = \(endpointID))
                        ORDER BY d.created_at DESC LIMIT \(limit)
                        """,
                        logger: logger
                    )
                    var lines: [String] = []
                    for try await (id, endpoint, type, status, attempts, code, error, next) in rows.decode(
                        (UUID, UUID, String, String, Int, Int?, String?, Date).self
                    ) {
                        lines.append(
                            "\(id.uuidString.lowercased())\t\(endpoint.uuidString.lowercased())\t\(type)\t\(status)\tattempts=\(attempts)\tlast=\(code.map(String.init) ?? error ?? "-")\tnext=\(ISO8601DateFormatter().string(from: next))"
                        )
                    }
                    return lines
                }
            }
            rows.forEach(say)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send deliveries again: one by id, or an endpoint's since a time. Attempts continue their numbering."
        )
        @Argument(help: "A delivery id.") var id: String?
        @Option(help: "Replay this endpoint's deliveries…") var endpoint: String?
        @Option(help: "…created since this ISO 8601 time.") var since: String?

        func run() async throws {
            let now = Date()
            if let id {
                guard let uuid = UUID(uuidString: id) else { fail("the id must be a delivery id") }
                let count = try await replay(where: "id", uuid: uuid, since: nil, now: now)
                guard count == 1 else { fail("no such delivery") }
                say("delivery \(id.lowercased()) queued again")
            } else if let endpoint, let since {
                guard let uuid = UUID(uuidString: endpoint) else { fail("--endpoint must be an endpoint id") }
                guard let date = ISO8601DateFormatter().date(from: since) else { fail("--since must be an ISO 8601 time, for example 2026-11-27T00:00:00Z") }
                let count = try await replay(where: "endpoint", uuid: uuid, since: date, now: now)
                say("\(count) deliveries queued again")
            } else {
                fail("give a delivery id, or --endpoint and --since")
            }
        }

        func replay(where kind: String, uuid: UUID, since: Date?, now: Date) async throws -> Int {
            try await withAdminDatabase { database, _, logger in
                try await database.withTransaction { connection in
                    let rows = kind == "id"
                        ? try await connection.query(
                            """
                            UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = \(now), finished_at = NULL,
                                claim_token = NULL, claimed_until = NULL
                            WHERE id = \(uuid) RETURNING 1
                            """, logger: logger)
                        : try await connection.query(
                            """
                            UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = \(now), finished_at = NULL,
                                claim_token = NULL, claimed_until = NULL
                            WHERE endpoint_id = \(uuid) AND created_at >= \(since ?? now) AND status <> 'pending' RETURNING 1
                            """, logger: logger)
                    var count = 0
                    for try await _ in rows { count += 1 }
                    try await audit("webhook_delivery_replay", detail: [kind: uuid.uuidString.lowercased(), "count": String(count)], on: connection, logger: logger)
                    return count
                }
            }
        }
    }
}

private func eventTypes(_ text: String) throws -> [String] {
    let filters = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    for filter in filters where !EventTypeFilter.isValid(filter) { fail("invalid event type filter: \(filter)") }
    return filters
}

private func setEndpoint(_ id: String, enabled: Bool, reason: String?) async throws {
    guard let uuid = UUID(uuidString: id) else { fail("--id must be an endpoint id") }
    let done = try await withAdminDatabase { database, configuration, logger in
        try await database.withTransaction { connection in
            let done = try await WebhookEndpointStore(encryption: configuration.encryption)
                .setEnabled(id: uuid, enabled, reason: reason, now: Date(), on: connection, logger: logger)
            if done {
                try await audit(enabled ? "webhook_endpoint_enable" : "webhook_endpoint_disable", detail: ["endpoint": id.lowercased()], on: connection, logger: logger)
            }
            return done
        }
    }
    guard done else { fail("no such endpoint") }
    say("endpoint \(id.lowercased()) \(enabled ? "enabled" : "disabled")")
}

private func audit(_ action: String, detail: [String: String], on connection: PostgresConnection, logger: Logger) async throws {
    let actor = ProcessInfo.processInfo.environment["USER"] ?? "cli"
    try await AuditLog.record(AuditEvent(action: action, outcome: "success", actor: actor, detail: detail), at: Date(), on: connection, logger: logger)
}

/// The configuration for admin commands, or one line and exit.
func loadConfiguration() throws -> AppConfiguration {
    do {
        let configuration = try AppConfiguration(environment: ProcessInfo.processInfo.environment)
        _ = try configuration.requireDatabase()
        return configuration
    } catch {
        fail(error.description)
    }
}

/// Runs `body` against the configured database with its pool running.
func withAdminDatabase<T: Sendable>(_ body: @escaping @Sendable (Database, AppConfiguration, Logger) async throws -> T) async throws -> T {
    let configuration = try loadConfiguration()
    let logger = {
        var logger = Logger(label: "admin")
        logger.logLevel = .error
        return logger
    }()
    let database = try Database(configuration: try configuration.requireDatabase(), logger: logger)
    do {
        return try await Migrate.running(database) { try await body(database, configuration, logger) }
    } catch StoreError.unavailable {
        fail("the database is unavailable")
    }
}
