import Domain
import Foundation
import Logging
import PostgresNIO
import Primitives

/// PostgreSQL as a queue of leased work for many stateless instances (contracts §5): due rows are claimed in a
/// short transaction with `FOR UPDATE SKIP LOCKED`, a lease (`claimed_until`) and a fresh claim token; the work
/// happens outside any transaction; a result is written only by the holder of the current claim
/// (`WHERE claim_token = $token`), so a worker whose lease ran out cannot overwrite a newer claim. A crashed
/// attempt comes back when its lease ends, and its attempt number is recorded as `lease_expired`.
///
/// Work is partitioned by what it is sent to (deliveries by endpoint, alert sends by channel), and a claim takes at
/// most `perPartition` rows of each, oldest due first, so the claimer can size a claim to what its lease covers:
/// one slow endpoint cannot fill a claim with work that will not start before the lease ends. A claim the holder
/// cannot start in time is given back (``release(_:token:on:logger:)``) and is due again at once.
///
/// Webhook deliveries and alert sends are two tables of this one shape; what differs is named here, as constant
/// SQL identifiers (never input), and each caller reads the details its claims need.
package struct WorkQueue: Sendable {
    /// The work table (`id`, `status`, `attempts`, `next_attempt_at`, `claim_token`, `claimed_until`).
    let table: String
    /// The attempts table and its key column pointing at the work row.
    let attemptsTable: String
    let attemptsKey: String
    /// The attempts table's column for the error text.
    let errorColumn: String
    /// How the table spells ``WorkStatus/succeeded`` (`succeeded` for deliveries, `sent` for alert sends).
    let succeededSpelling: String
    /// The work table's partition column, and a query for the partitions whose work may be claimed (deliveries: the
    /// enabled endpoints), one column.
    let partitionColumn: String
    let partitions: String

    /// `webhook_deliveries`, by endpoint: only deliveries of enabled endpoints are claimed.
    package static let webhookDeliveries = WorkQueue(
        table: "webhook_deliveries", attemptsTable: "webhook_attempts", attemptsKey: "delivery_id", errorColumn: "error_kind",
        succeededSpelling: "succeeded", partitionColumn: "endpoint_id", partitions: "SELECT id FROM webhook_endpoints WHERE enabled"
    )

    /// `alert_sends`, by channel.
    package static let alertSends = WorkQueue(
        table: "alert_sends", attemptsTable: "alert_send_attempts", attemptsKey: "send_id", errorColumn: "error",
        succeededSpelling: "sent", partitionColumn: "channel", partitions: "VALUES ('email'), ('slack')"
    )

    /// The status as this table stores it.
    package func spelling(of status: WorkStatus) -> String {
        switch status {
        case .pending: return "pending"
        case .succeeded: return succeededSpelling
        case .failed: return "failed"
        }
    }

    /// Claims up to `limit` due rows, at most `perPartition` of each partition or, for the partitions in `room`
    /// (their text form), as many as it says (none when zero or less), for `lease`, in one statement that also
    /// reads what the claims need: `details` is a constant `SELECT` over `claimed (id, attempts, next_attempt_at)`,
    /// the claimed rows with the attempt number this claim makes. Answers the claim's token and `details`' rows.
    package func claim(
        limit: Int, perPartition: Int, room: [String: Int] = [:], now: Date, lease: Duration, details: String,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> (token: UUID, rows: PostgresRowSequence) {
        let token = UUID.random()
        let leaseEnd = now.addingTimeInterval(lease.seconds)
        let (roomKeys, roomCounts) = (Array(room.keys), room.keys.map { room[$0]! })
        let rows = try await connection.query(
            """
            WITH candidates AS (
                -- Unlocked: the oldest due rows of each partition, through its (partition, next_attempt_at) index.
                SELECT c.id FROM (\(unescaped: partitions)) AS p (key)
                LEFT JOIN unnest(\(roomKeys)::text[], \(roomCounts)::int8[]) AS r (key, room) ON r.key = p.key::text
                CROSS JOIN LATERAL (
                    SELECT w.id, w.next_attempt_at FROM \(unescaped: table) w
                    WHERE w.\(unescaped: partitionColumn) = p.key AND w.status = 'pending' AND w.next_attempt_at <= \(now)
                      AND (w.claimed_until IS NULL OR w.claimed_until < \(now))
                    ORDER BY w.next_attempt_at LIMIT greatest(0, coalesce(r.room, \(perPartition)))
                ) c
                ORDER BY c.next_attempt_at LIMIT \(limit)
            ), due AS (
                -- Locked, and checked again: a concurrent claim may have taken a candidate since.
                SELECT w.id, w.claim_token IS NOT NULL AS lapsed, w.claimed_until
                FROM \(unescaped: table) w
                WHERE w.id IN (SELECT id FROM candidates) AND w.status = 'pending'
                  AND (w.claimed_until IS NULL OR w.claimed_until < \(now))
                FOR UPDATE OF w SKIP LOCKED
            ), claimed AS (
                UPDATE \(unescaped: table) w SET claim_token = \(token), claimed_until = \(leaseEnd), attempts = w.attempts + 1
                FROM due WHERE w.id = due.id
                RETURNING w.id, w.attempts, due.lapsed, due.claimed_until, w.next_attempt_at
            ), lost AS (
                INSERT INTO \(unescaped: attemptsTable) (\(unescaped: attemptsKey), attempt, started_at, duration_ms, \(unescaped: errorColumn))
                SELECT id, attempts - 1, claimed_until, 0, 'lease_expired' FROM claimed WHERE lapsed AND attempts > 1
                ON CONFLICT (\(unescaped: attemptsKey), attempt) DO NOTHING
            )
            \(unescaped: details)
            """,
            logger: logger
        )
        return (token, rows)
    }

    /// Gives back claims that were not attempted (their lease would not have covered the attempt, or the drain
    /// stopped): due again at once, with the attempt number they would have used. Only rows still held by `token`.
    package func release(_ ids: [UUID], token: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        guard !ids.isEmpty else { return }
        try await connection.query(
            """
            UPDATE \(unescaped: table) SET claim_token = NULL, claimed_until = NULL, attempts = attempts - 1
            WHERE id = ANY (\(ids)::uuid[]) AND claim_token = \(token)
            """,
            logger: logger
        )
    }
}
