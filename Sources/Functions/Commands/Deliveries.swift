import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO

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
        @Flag(help: "With --endpoint: only deliveries that failed (not those that succeeded).") var failedOnly = false

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
            let failedOnly = self.failedOnly
            return try await withAdminDatabase { database, _, logger in
                try await database.withTransaction { connection in
                    // Their messages are held until this commits, so `functions maintain` (which skips held messages)
                    // cannot purge a delivery this makes pending again.
                    try await connection.query(
                        """
                        SELECT 1 FROM webhook_messages WHERE id IN (
                            SELECT message_id FROM webhook_deliveries WHERE (\(kind) = 'id' AND id = \(uuid)) OR (\(kind) <> 'id' AND endpoint_id = \(uuid))
                        ) FOR SHARE
                        """, logger: logger)
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
                            WHERE endpoint_id = \(uuid) AND created_at >= \(since ?? now) AND status <> 'pending'
                                AND (NOT \(failedOnly) OR status = 'failed') RETURNING 1
                            """, logger: logger)
                    var count = 0
                    for try await _ in rows { count += 1 }
                    try await audit(
                        "webhook_delivery_replay", detail: [kind: uuid.uuidString.lowercased(), "count": String(count), "failed_only": String(failedOnly)],
                        on: connection, logger: logger
                    )
                    return count
                }
            }
        }
    }
}
