import ArgumentParser
import Domain
import Foundation
import Logging
import Outbound
import PostgresNIO
import Store

/// `functions events …`: received events, and handing them to their consumers again.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Received webhook events: list, show, replay to their consumers.", subcommands: [List.self, Show.self, Replay.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recent events, newest first, with what their consumers got.")
        @Option(help: "Only this source.") var source: String?
        @Option(help: "Only this event type (exact, or prefix.*).") var type: String?
        @Option(help: "Only events received since this ISO 8601 time.") var since: String?
        @Option(help: "How many.") var limit: Int = 50

        func run() async throws {
            let since = try since.map(parseTime)
            let (source, type, limit) = (source, type, min(max(limit, 1), 10_000))
            if let type, !EventTypeFilter.isValid(type) { fail("--type must be an event type or prefix.*") }
            let prefix = type.flatMap { $0.hasSuffix(".*") ? String($0.dropLast(1)) : nil }
            let exact = prefix == nil ? type : nil
            let lines = try await withAdminDatabase { database, _, logger in
                try await database.withConnection { connection in
                    let rows = try await connection.query(
                        """
                        SELECT e.id, e.received_at, e.source_slug, e.event_type, e.status, e.message_id, c.succeeded, c.pending, c.failed
                        FROM (
                            SELECT id, received_at, source_slug, event_type, status, message_id FROM webhook_events
                            WHERE (\(source)::text IS NULL OR source_slug = \(source))
                                AND (\(exact)::text IS NULL OR event_type = \(exact))
                                AND (\(prefix)::text IS NULL OR starts_with(event_type, \(prefix)))
                                AND (\(since)::timestamptz IS NULL OR received_at >= \(since))
                            ORDER BY received_at DESC, id LIMIT \(limit)
                        ) e
                        CROSS JOIN LATERAL (
                            SELECT count(d.id) FILTER (WHERE d.status = 'succeeded') AS succeeded,
                                count(d.id) FILTER (WHERE d.status = 'pending') AS pending, count(d.id) FILTER (WHERE d.status = 'failed') AS failed
                            FROM webhook_messages m JOIN webhook_deliveries d ON d.message_id = m.id WHERE m.source_event_id = e.id
                        ) c
                        ORDER BY e.received_at DESC, e.id
                        """,
                        logger: logger
                    )
                    var lines: [String] = []
                    for try await (id, at, slug, type, status, sender, succeeded, pending, failed) in rows.decode(
                        (UUID, Date, String, String?, String, String, Int, Int, Int).self
                    ) {
                        lines.append(
                            "\(id.uuidString.lowercased())\t\(timeText(at))\t\(slug)\t\(type ?? "-")\t\(status)\tid=\(sender)\tconsumers: \(succeeded) succeeded, \(pending) pending, \(failed) failed"
                        )
                    }
                    return lines
                }
            }
            lines.forEach(say)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One event: what was received, the unsigned headers recorded, each consumer's delivery.")
        @Argument(help: "The event id.") var id: String

        func run() async throws {
            guard let uuid = UUID(uuidString: id) else { fail("the id must be an event id") }
            let lines = try await withAdminDatabase { database, configuration, logger in
                try await database.withConnection { connection -> [String]? in
                    let rows = try await connection.query(
                        """
                        SELECT source_slug, event_type, status, message_id, received_at, request_id, unsigned_headers::text, payload, payload_encrypted,
                            purged_at
                        FROM webhook_events WHERE id = \(uuid)
                        """,
                        logger: logger
                    )
                    var lines: [String]?
                    for try await (slug, type, status, sender, at, request, unsigned, payload, encrypted, purged) in rows.decode(
                        (String, String?, String, String, Date, String?, String?, Data, Bool, Date?).self
                    ) {
                        let body = purged.map { "(purged \(timeText($0)) by retention; the row stays to refuse a replay)" }
                            ?? (try? configuration.encryption.openPayload(payload, encrypted: encrypted)).map { String(decoding: $0, as: UTF8.self) }
                            ?? "(encrypted: FIELD_ENCRYPTION_KEY cannot open it)"
                        lines = [
                            "event \(uuid.uuidString.lowercased())", "source: \(slug)", "type: \(type ?? "-")", "status: \(status)",
                            "sender's id: \(sender)", "received: \(timeText(at))", "request id: \(request ?? "-")",
                            "unsigned headers (recorded, not trusted): \(unsigned ?? "-")", "payload (\(payload.count) bytes): \(body)",
                        ]
                    }
                    guard var lines else { return nil }
                    let deliveries = try await connection.query(
                        """
                        SELECT d.id, d.endpoint_id, w.url, d.status, d.attempts, d.last_status_code, d.last_error
                        FROM webhook_messages m JOIN webhook_deliveries d ON d.message_id = m.id JOIN webhook_endpoints w ON w.id = d.endpoint_id
                        WHERE m.source_event_id = \(uuid) ORDER BY d.created_at, d.id
                        """,
                        logger: logger
                    )
                    var count = 0
                    for try await (delivery, endpoint, url, status, attempts, code, error) in deliveries.decode(
                        (UUID, UUID, String, String, Int, Int?, String?).self
                    ) {
                        count += 1
                        lines.append(
                            "consumer \(endpoint.uuidString.lowercased()) \(url): delivery \(delivery.uuidString.lowercased()) \(status), attempts=\(attempts), last=\(code.map(String.init) ?? error ?? "-")"
                        )
                    }
                    if count == 0 { lines.append("consumers: none") }
                    return lines
                }
            }
            guard let lines else { fail("no such event") }
            lines.forEach(say)
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand events to their consumers again: one by id, or a source's since a time. Attempts continue their numbering."
        )
        @Argument(help: "An event id.") var id: String?
        @Option(help: "Replay this source's events…") var source: String?
        @Option(help: "…received since this ISO 8601 time.") var since: String?
        @Flag(help: "Only deliveries that failed (not those that succeeded).") var failedOnly = false

        func run() async throws {
            let ids: [UUID]
            if let id {
                guard let uuid = UUID(uuidString: id) else { fail("the id must be an event id") }
                ids = [uuid]
            } else if let source, let since {
                let date = try parseTime(since)
                ids = try await withAdminDatabase { database, _, logger in
                    try await database.withConnection { connection in
                        var ids: [UUID] = []
                        let rows = try await connection.query(
                            """
                            SELECT id FROM webhook_events WHERE source_slug = \(source) AND received_at >= \(date) AND status = 'accepted'
                            ORDER BY received_at, id
                            """,
                            logger: logger
                        )
                        for try await id in rows.decode(UUID.self) { ids.append(id) }
                        return ids
                    }
                }
            } else {
                fail("give an event id, or --source and --since")
            }
            let failedOnly = self.failedOnly
            let replayed = try await withAdminDatabase { database, configuration, logger in
                let providers = ProviderClient()
                let dispatcher = WebhookDispatcher(database: database, encryption: configuration.encryption, settings: configuration.webhooks, clients: providers)
                let receiver = WebhookReceiver(database: database, encryption: configuration.encryption, dispatcher: dispatcher)
                let replayed = try await receiver.replay(ids, failedOnly: failedOnly, logger: logger)
                try await database.withTransaction { connection in
                    try await audit(
                        "webhook_event_replay",
                        detail: [
                            "events": String(replayed.events), "requeued": String(replayed.requeued), "created": String(replayed.created),
                            "failed_only": String(failedOnly),
                        ],
                        on: connection, logger: logger
                    )
                }
                await providers.shutdown()
                return replayed
            }
            if id != nil, replayed.events == 0 { fail("no such accepted event") }
            say("\(replayed.events) events: \(replayed.requeued) deliveries queued again, \(replayed.created) new (consumers added since)")
        }
    }
}

/// An ISO 8601 time from an option, or one line and exit.
func parseTime(_ text: String) throws -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { fail("times are ISO 8601, for example 2026-11-27T00:00:00Z") }
    return date
}

/// A time as operators read it: ISO 8601 in UTC.
func timeText(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
