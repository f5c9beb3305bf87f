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
    /// A join that only eligible rows pass (deliveries: their endpoint is enabled), over the work table as `w`.
    let eligibility: String

    /// `webhook_deliveries`: only deliveries of enabled endpoints are claimed.
    package static let webhookDeliveries = WorkQueue(
        table: "webhook_deliveries", attemptsTable: "webhook_attempts", attemptsKey: "delivery_id", errorColumn: "error_kind",
        succeededSpelling: "succeeded", eligibility: "JOIN webhook_endpoints e ON e.id = w.endpoint_id AND e.enabled"
    )

    /// `alert_sends`.
    package static let alertSends = WorkQueue(
        table: "alert_sends", attemptsTable: "alert_send_attempts", attemptsKey: "send_id", errorColumn: "error",
        succeededSpelling: "sent", eligibility: ""
    )

    /// The status as this table stores it.
    package func spelling(of status: WorkStatus) -> String {
        switch status {
        case .pending: return "pending"
        case .succeeded: return succeededSpelling
        case .failed: return "failed"
        }
    }

    /// Claims up to `limit` due rows for `lease`, inside the caller's transaction, in one statement that also reads
    /// what the claims need: `details` is a constant `SELECT` over `claimed (id, attempts, next_attempt_at)`, the
    /// claimed rows with the attempt number this claim makes. Answers the claim's token and `details`' rows.
    package func claim(
        limit: Int, now: Date, lease: Duration, details: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> (token: UUID, rows: PostgresRowSequence) {
        let token = UUID.random()
        let leaseEnd = now.addingTimeInterval(lease.seconds)
        let rows = try await connection.query(
            """
            WITH due AS (
                SELECT w.id, w.claim_token IS NOT NULL AS lapsed, w.claimed_until
                FROM \(unescaped: table) w \(unescaped: eligibility)
                WHERE w.status = 'pending' AND w.next_attempt_at <= \(now)
                  AND (w.claimed_until IS NULL OR w.claimed_until < \(now))
                ORDER BY w.next_attempt_at
                LIMIT \(limit)
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
}
