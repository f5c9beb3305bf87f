import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO
import Store

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
                try await database.withConnection { try await WebhookSourceStore(encryption: configuration.encryption).listing(on: $0, logger: logger) }
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
