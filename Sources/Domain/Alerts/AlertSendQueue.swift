import Foundation
import Logging
import PostgresNIO

/// `alert_sends` as a queue, claimed and finished exactly like webhook deliveries (short claiming
/// transactions, `FOR UPDATE SKIP LOCKED`, a lease and a claim token; results written only by the holder).
enum AlertSendQueue {
    struct Claim: Sendable {
        var sendID: UUID
        var alertID: UUID
        var channel: String
        var attempt: Int
        var claimToken: UUID
        var severity: String
        var alertType: String
        var subject: String
        var message: Data
        var messageEncrypted: Bool
        var recipients: [String]
        var links: [String]
        var createdAt: Date
    }

    enum Result: Sendable { case sent, retrying, failed, lost }

    struct Outcome: Sendable {
        var startedAt: Date
        var durationMilliseconds: Int
        var statusCode: Int?
        var status: String
        var nextAttemptAt: Date?
        var reason: String?
        var providerID: String?
    }

    static func claim(limit: Int, now: Date, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> [Claim] {
        let token = UUID()
        let leaseEnd = now.addingTimeInterval(Double(lease.components.seconds))
        let rows = try await connection.query(
            """
            WITH due AS (
                SELECT s.id, s.claim_token IS NOT NULL AS lapsed, s.claimed_until FROM alert_sends s
                WHERE s.status = 'pending' AND s.next_attempt_at <= \(now)
                  AND (s.claimed_until IS NULL OR s.claimed_until < \(now))
                ORDER BY s.next_attempt_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE alert_sends s SET claim_token = \(token), claimed_until = \(leaseEnd), attempts = s.attempts + 1
                FROM due WHERE s.id = due.id
                RETURNING s.id, s.alert_id, s.channel, s.attempts, due.lapsed, due.claimed_until
            ), lost AS (
                INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms, error)
                SELECT id, attempts - 1, claimed_until, 0, 'lease_expired' FROM claimed WHERE lapsed AND attempts > 1
                ON CONFLICT (send_id, attempt) DO NOTHING
            )
            SELECT c.id, c.alert_id, c.channel, c.attempts, a.severity, a.alert_type, a.subject, a.message, a.message_encrypted,
                a.recipients, a.links, a.created_at
            FROM claimed c JOIN alerts a ON a.id = c.alert_id
            """,
            logger: logger
        )
        var claims: [Claim] = []
        for try await row in rows {
            let (id, alert, channel, attempt, severity, type, subject, message, encrypted, recipients, links, created) = try row.decode(
                (UUID, UUID, String, Int, String, String, String, Data, Bool, [String], [String], Date).self
            )
            claims.append(
                Claim(
                    sendID: id, alertID: alert, channel: channel, attempt: attempt, claimToken: token, severity: severity, alertType: type,
                    subject: subject, message: message, messageEncrypted: encrypted, recipients: recipients, links: links, createdAt: created
                )
            )
        }
        return claims
    }

    /// Records the attempt and the send's new state, with its counter, only while the claim holds.
    static func finish(_ claim: Claim, outcome: Outcome, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let shard = Int16.random(in: 0..<Int16(Counters.shards))
        let label = outcome.status == "sent" ? "sent" : (outcome.status == "pending" ? "retrying" : "failed")
        let rows = try await connection.query(
            """
            WITH held AS (
                UPDATE alert_sends SET status = \(outcome.status)::text,
                    next_attempt_at = coalesce(\(outcome.nextAttemptAt)::timestamptz, next_attempt_at),
                    claim_token = NULL, claimed_until = NULL, last_error = \(outcome.reason)::text,
                    provider_message_id = coalesce(\(outcome.providerID)::text, provider_message_id),
                    finished_at = CASE WHEN \(outcome.status)::text = 'pending' THEN NULL ELSE \(now)::timestamptz END
                WHERE id = \(claim.sendID) AND claim_token = \(claim.claimToken)
                RETURNING id
            ), recorded AS (
                INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms, status_code, error)
                SELECT id, \(claim.attempt), \(outcome.startedAt), \(outcome.durationMilliseconds), \(outcome.statusCode)::integer,
                    \(outcome.reason)::text FROM held
                ON CONFLICT (send_id, attempt) DO NOTHING
            ), counted AS (
                INSERT INTO counters (name, labels, shard, value)
                SELECT 'alert_sends_total', jsonb_build_object('channel', \(claim.channel)::text, 'outcome', \(label)::text), \(shard), 1 FROM held
                ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
            )
            SELECT count(*) FROM held
            """,
            logger: logger
        )
        for try await count in rows.decode(Int.self) { return count == 1 }
        return false
    }
}
