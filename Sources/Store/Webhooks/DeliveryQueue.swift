import Domain
import Foundation
import Logging
import PostgresNIO
import Primitives

/// Webhook deliveries on the one leased ``WorkQueue``: what a claimed delivery carries, and the batched finish that
/// records attempts, counters and endpoint failure streaks under the claim.
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

    /// Claims up to `limit` due deliveries of enabled endpoints (``WorkQueue/webhookDeliveries``) and reads what
    /// sending them needs: the message's payload and the endpoint.
    package static func claim(
        limit: Int,
        now: Date,
        lease: Duration,
        endpoints: WebhookEndpointStore,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Claim] {
        let (token, rows) = try await WorkQueue.webhookDeliveries.claim(
            limit: limit, now: now, lease: lease,
            details: """
                SELECT c.id, c.attempts, d.message_id, d.endpoint_id, m.payload, m.payload_encrypted
                FROM claimed c JOIN webhook_deliveries d ON d.id = c.id JOIN webhook_messages m ON m.id = d.message_id
                ORDER BY c.next_attempt_at
                """,
            on: connection, logger: logger
        )
        var claimed: [(UUID, Int, UUID, UUID, Data, Bool)] = []
        for try await row in rows.decode((UUID, Int, UUID, UUID, Data, Bool).self) { claimed.append(row) }
        guard !claimed.isEmpty else { return [] }
        let endpointIDs = Array(Set(claimed.map(\.3)))
        let byID = Dictionary(try await endpoints.find(ids: endpointIDs, on: connection, logger: logger).map { ($0.id, $0) }) { first, _ in first }
        return claimed.compactMap { delivery, attempt, message, endpointID, payload, encrypted in
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
        /// Succeeded, failed (no attempts left or endpoint gone) or pending (retry at `nextAttemptAt`).
        package var status: WorkStatus
        package var nextAttemptAt: Date?
        /// Disable the endpoint with this reason (410, or failing for too long).
        package var disableEndpoint: String?

        /// Whether the endpoint took it (2xx).
        var succeeded: Bool { status == .succeeded }

        /// Creates a value from its fields.
        package init(
            startedAt: Date,
            durationMilliseconds: Int,
            statusCode: Int? = nil,
            responseBody: String? = nil,
            errorKind: String? = nil,
            status: WorkStatus,
            nextAttemptAt: Date? = nil,
            disableEndpoint: String? = nil
        ) {
            self.startedAt = startedAt
            self.durationMilliseconds = durationMilliseconds
            self.statusCode = statusCode
            self.responseBody = responseBody
            self.errorKind = errorKind
            self.status = status
            self.nextAttemptAt = nextAttemptAt
            self.disableEndpoint = disableEndpoint
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
