import Domain
import Foundation
public import Logging
public import PostgresNIO

/// Removes what the retention policy no longer keeps (`functions maintain`), one bounded batch per call.
///
/// Each batch is one statement (its own short transaction): it picks up to `batchSize` expired parents, locked
/// `FOR UPDATE SKIP LOCKED` so that several runs at once take different rows and none waits, then deletes their
/// children before them (set-based, not a cascade trigger per row). Children are found by key through
/// `= ANY (ARRAY(…))`, so each lookup is an index probe: a join lets the planner hash the whole child table, which
/// with 10,000,000 finished deliveries cost seconds per batch. A record still pending is never picked: a
/// message or alert with a pending or recently finished delivery or send, an event whose forwarded message has one.
/// Replays hold the rows they change (`FOR UPDATE` / `FOR SHARE`), so a purge skips them.
///
/// Received events of `hmac-sha256` sources are not deleted: that scheme has no timestamp, so the row (source and
/// sender's message id) is what refuses a replayed body, for ever. Their payload and unsigned headers are
/// emptied instead, and their forwarded message removed.
public struct Purge: Sendable {
    /// What one kind of purge is called in reports.
    public enum Kind: String, Sendable, CaseIterable {
        case publishedMessages = "published messages"
        case receivedEvents = "received events"
        case replayGuards = "hmac event payloads"
        case alerts
        case audit = "audit events"
        case loginFailures = "login failures"
        case refreshTokens = "refresh tokens"
    }

    let policy: RetentionPolicy
    /// Login failures older than this no longer count toward a limit.
    let failureWindow: TimeInterval
    let batchSize: Int

    /// A purge under `policy`.
    public init(policy: RetentionPolicy, failureWindow: TimeInterval, batchSize: Int = 5000) {
        self.policy = policy
        self.failureWindow = failureWindow
        self.batchSize = max(1, batchSize)
    }

    /// One batch of `kind`: rows removed per table (none when nothing more is due).
    public func batch(_ kind: Kind, now: Date, on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let limit = batchSize
        switch kind {
        case .publishedMessages:
            let cutoff = now.addingTimeInterval(-policy.webhooks)
            return try await counts(
                ["webhook_messages", "webhook_deliveries", "webhook_attempts"],
                connection.query(
                    """
                    WITH doomed AS (
                        SELECT m.id FROM webhook_messages m
                        WHERE m.source_event_id IS NULL AND m.created_at < \(cutoff)
                            AND NOT EXISTS (
                                SELECT 1 FROM webhook_deliveries d
                                WHERE d.message_id = m.id AND (d.status = 'pending' OR d.finished_at >= \(cutoff))
                            )
                        ORDER BY m.created_at LIMIT \(limit) FOR UPDATE OF m SKIP LOCKED
                    ), children AS (
                        SELECT d.id FROM webhook_deliveries d WHERE d.message_id = ANY (ARRAY(SELECT id FROM doomed))
                    ), attempts AS (
                        DELETE FROM webhook_attempts a WHERE a.delivery_id = ANY (ARRAY(SELECT id FROM children)) RETURNING 1
                    ), deliveries AS (
                        DELETE FROM webhook_deliveries d WHERE d.id = ANY (ARRAY(SELECT id FROM children)) RETURNING 1
                    ), messages AS (
                        DELETE FROM webhook_messages m WHERE m.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING 1
                    )
                    SELECT (SELECT count(*) FROM messages)::int, (SELECT count(*) FROM deliveries)::int, (SELECT count(*) FROM attempts)::int
                    """,
                    logger: logger
                )
            )
        case .receivedEvents, .replayGuards:
            let cutoff = now.addingTimeInterval(-policy.webhooks)
            let guards = kind == .replayGuards
            // An event's row goes (or, for a replay guard, its payload), with its forwarded message, deliveries and
            // attempts.
            let last = guards
                ? """
                UPDATE webhook_events e SET payload = ''::bytea, payload_encrypted = false, unsigned_headers = NULL, purged_at = $4
                WHERE e.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING 1
                """
                : "DELETE FROM webhook_events e WHERE e.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING 1"
            return try await counts(
                ["webhook_events", "webhook_messages", "webhook_deliveries", "webhook_attempts"],
                connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            WITH doomed AS (
                                SELECT e.id FROM webhook_events e JOIN webhook_sources s ON s.id = e.source_id
                                WHERE e.received_at < $1 AND e.purged_at IS NULL AND (s.scheme = 'hmac-sha256') = $3
                                    AND NOT EXISTS (
                                        SELECT 1 FROM webhook_messages m JOIN webhook_deliveries d ON d.message_id = m.id
                                        WHERE m.source_event_id = e.id AND (d.status = 'pending' OR d.finished_at >= $1)
                                    )
                                ORDER BY e.received_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED
                            ), forwarded AS (
                                SELECT m.id FROM webhook_messages m WHERE m.source_event_id = ANY (ARRAY(SELECT id FROM doomed))
                            ), children AS (
                                SELECT d.id FROM webhook_deliveries d WHERE d.message_id = ANY (ARRAY(SELECT id FROM forwarded))
                            ), attempts AS (
                                DELETE FROM webhook_attempts a WHERE a.delivery_id = ANY (ARRAY(SELECT id FROM children)) RETURNING 1
                            ), deliveries AS (
                                DELETE FROM webhook_deliveries d WHERE d.id = ANY (ARRAY(SELECT id FROM children)) RETURNING 1
                            ), messages AS (
                                DELETE FROM webhook_messages m WHERE m.id = ANY (ARRAY(SELECT id FROM forwarded)) RETURNING 1
                            ), events AS (
                                \(last)
                            )
                            SELECT (SELECT count(*) FROM events)::int, (SELECT count(*) FROM messages)::int,
                                (SELECT count(*) FROM deliveries)::int, (SELECT count(*) FROM attempts)::int
                            """,
                        binds: {
                            var bindings = PostgresBindings(capacity: 4)
                            bindings.append(cutoff)
                            bindings.append(limit)
                            bindings.append(guards)
                            bindings.append(now)
                            return bindings
                        }()
                    ),
                    logger: logger
                )
            )
        case .alerts:
            let cutoff = now.addingTimeInterval(-policy.alerts)
            return try await counts(
                ["alerts", "alert_sends", "alert_send_attempts"],
                connection.query(
                    """
                    WITH doomed AS (
                        SELECT a.id FROM alerts a
                        WHERE a.created_at < \(cutoff)
                            AND NOT EXISTS (
                                SELECT 1 FROM alert_sends s WHERE s.alert_id = a.id AND (s.status = 'pending' OR s.finished_at >= \(cutoff))
                            )
                        ORDER BY a.created_at LIMIT \(limit) FOR UPDATE OF a SKIP LOCKED
                    ), children AS (
                        SELECT s.id FROM alert_sends s WHERE s.alert_id = ANY (ARRAY(SELECT id FROM doomed))
                    ), attempts AS (
                        DELETE FROM alert_send_attempts t WHERE t.send_id = ANY (ARRAY(SELECT id FROM children)) RETURNING 1
                    ), sends AS (
                        DELETE FROM alert_sends s WHERE s.id = ANY (ARRAY(SELECT id FROM children)) RETURNING 1
                    ), removed AS (
                        DELETE FROM alerts a WHERE a.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING 1
                    )
                    SELECT (SELECT count(*) FROM removed)::int, (SELECT count(*) FROM sends)::int, (SELECT count(*) FROM attempts)::int
                    """,
                    logger: logger
                )
            )
        case .audit:
            let cutoff = now.addingTimeInterval(-policy.audit)
            return try await counts(
                ["audit_events"],
                connection.query(
                    """
                    WITH doomed AS (
                        SELECT id FROM audit_events WHERE at < \(cutoff) ORDER BY at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ), removed AS (DELETE FROM audit_events a WHERE a.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING 1)
                    SELECT count(*)::int FROM removed
                    """,
                    logger: logger
                )
            )
        case .loginFailures:
            let cutoff = now.addingTimeInterval(-failureWindow)
            return try await counts(
                ["login_failures"],
                connection.query(
                    """
                    WITH doomed AS (
                        SELECT id FROM login_failures WHERE at < \(cutoff) ORDER BY at LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ), removed AS (DELETE FROM login_failures f WHERE f.id = ANY (ARRAY(SELECT id FROM doomed)) RETURNING 1)
                    SELECT count(*)::int FROM removed
                    """,
                    logger: logger
                )
            )
        case .refreshTokens:
            // Kept an hour past expiry, as the functions' own pruning keeps them (reuse of a just-expired token is
            // still recognised as reuse).
            let cutoff = now.addingTimeInterval(-RefreshTokenStore.pruneGrace)
            return try await counts(
                ["refresh_tokens", "refresh_token_families"],
                connection.query(
                    """
                    WITH tokens AS (
                        SELECT jti FROM refresh_tokens WHERE expires_at < \(cutoff) LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ), removed AS (DELETE FROM refresh_tokens t WHERE t.jti = ANY (ARRAY(SELECT jti FROM tokens)) RETURNING 1),
                    families AS (
                        SELECT f.id FROM refresh_token_families f WHERE f.expires_at < \(cutoff)
                            AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)
                        LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    ), gone AS (DELETE FROM refresh_token_families f WHERE f.id = ANY (ARRAY(SELECT id FROM families)) RETURNING 1)
                    SELECT (SELECT count(*) FROM removed)::int, (SELECT count(*) FROM gone)::int
                    """,
                    logger: logger
                )
            )
        }
    }

    /// The single row of counts, named by `tables`.
    private func counts(_ tables: [String], _ rows: PostgresRowSequence) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for try await row in rows {
            let cells = row.makeRandomAccess()
            for (index, table) in tables.enumerated() { counts[table] = try cells[index].decode(Int.self) }
        }
        return counts
    }
}
