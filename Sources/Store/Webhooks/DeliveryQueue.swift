import Domain
import Foundation
import Logging
import PostgresNIO
import Primitives

/// PostgreSQL as the delivery queue: short claiming transactions with `FOR UPDATE SKIP LOCKED`, a lease and
/// a claim token; the HTTP call happens outside any transaction; a result is written only by the holder of
/// the current claim. A crashed drain's deliveries come back when their lease ends.
package enum DeliveryQueue {
    /// A claimed delivery with what is needed to send it.
    package struct Claim: Sendable {
        package var deliveryID: UUID
        package var messageID: UUID
        package var endpoint: WebhookEndpoint
        package var attempt: Int
        package var payload: Data
        package var payloadEncrypted: Bool
        var claimToken: UUID
    }

    /// Claims up to `limit` due deliveries of enabled endpoints. A delivery whose previous claim lapsed gets
    /// that attempt recorded as `lease_expired`, so every attempt number is used exactly once.
    package static func claim(
        limit: Int,
        now: Date,
        lease: Duration,
        endpoints: WebhookEndpointStore,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Claim] {
        let token = UUID.random()
        let leaseEnd = now.addingTimeInterval(Double(lease.components.seconds))
        let rows = try await connection.query(
            """
            WITH due AS (
                SELECT d.id, d.claim_token IS NOT NULL AS lapsed, d.claimed_until
                FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.status = 'pending' AND d.next_attempt_at <= \(now)
                  AND (d.claimed_until IS NULL OR d.claimed_until < \(now)) AND e.enabled
                ORDER BY d.next_attempt_at
                LIMIT \(limit)
                FOR UPDATE OF d SKIP LOCKED
            ), claimed AS (
                UPDATE webhook_deliveries d SET claim_token = \(token), claimed_until = \(leaseEnd), attempts = d.attempts + 1
                FROM due WHERE d.id = due.id
                RETURNING d.id, d.message_id, d.endpoint_id, d.attempts, due.lapsed, due.claimed_until
            ), lost AS (
                INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, error_kind)
                SELECT id, attempts - 1, claimed_until, 0, 'lease_expired' FROM claimed WHERE lapsed AND attempts > 1
                ON CONFLICT (delivery_id, attempt) DO NOTHING
            )
            SELECT c.id, c.message_id, c.endpoint_id, c.attempts, m.payload, m.payload_encrypted
            FROM claimed c JOIN webhook_messages m ON m.id = c.message_id
            """,
            logger: logger
        )
        var claimed: [(UUID, UUID, UUID, Int, Data, Bool)] = []
        for try await row in rows.decode((UUID, UUID, UUID, Int, Data, Bool).self) { claimed.append(row) }
        guard !claimed.isEmpty else { return [] }
        let endpointIDs = Array(Set(claimed.map(\.2)))
        let byID = Dictionary(try await endpoints.find(ids: endpointIDs, on: connection, logger: logger).map { ($0.id, $0) }) { first, _ in first }
        return claimed.compactMap { delivery, message, endpointID, attempt, payload, encrypted in
            guard let endpoint = byID[endpointID] else { return nil }
            return Claim(
                deliveryID: delivery, messageID: message, endpoint: endpoint, attempt: attempt, payload: payload,
                payloadEncrypted: encrypted, claimToken: token
            )
        }
    }

    /// How an attempt ended, for the record.
    package struct Outcome: Sendable {
        var startedAt: Date
        var durationMilliseconds: Int
        var statusCode: Int?
        var responseBody: String?
        var errorKind: String?
        /// `succeeded`, `failed` (no attempts left or endpoint gone) or `pending` (retry at `nextAttemptAt`).
        package var status: String
        package var nextAttemptAt: Date?
        /// Disable the endpoint with this reason (410, or failing for too long).
        package var disableEndpoint: String?
        package var succeeded: Bool

        /// Creates a value from its fields.
        package init(
            startedAt: Date,
            durationMilliseconds: Int,
            statusCode: Int? = nil,
            responseBody: String? = nil,
            errorKind: String? = nil,
            status: String,
            nextAttemptAt: Date? = nil,
            disableEndpoint: String? = nil,
            succeeded: Bool
        ) {
            self.startedAt = startedAt
            self.durationMilliseconds = durationMilliseconds
            self.statusCode = statusCode
            self.responseBody = responseBody
            self.errorKind = errorKind
            self.status = status
            self.nextAttemptAt = nextAttemptAt
            self.disableEndpoint = disableEndpoint
            self.succeeded = succeeded
        }
    }

    /// Records attempts made under one claim token, their counters and the deliveries' new states, only where the
    /// claim still holds: one statement. Answers, per delivery whose claim held, whether this statement disabled its
    /// endpoint; a delivery missing from the answer lost its claim (the lease ran out and another drain took over).
    package static func finish(
        _ results: [(claim: Claim, outcome: Outcome)], now: Date, disableAfter: Double, on connection: PostgresConnection, logger: Logger
    ) async throws -> [UUID: Bool] {
        guard let token = results.first?.claim.claimToken else { return [:] }
        precondition(results.allSatisfy { $0.claim.claimToken == token }, "one statement finishes one claim")
        var held: [UUID: Bool] = [:]
        let statement = FinishDeliveriesStatement(results, now: now, disableAfter: disableAfter)
        for try await (id, _, disabledNow) in try await connection.execute(statement, logger: logger) { held[id] = disabledNow }
        return held
    }
}
