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
        package var endpointID: UUID
        /// The endpoint, or why it cannot be used (its secret cannot be opened with the configured keys): such a row
        /// fails only its own deliveries.
        package var endpoint: Result<WebhookEndpoint, DeliveryFailure>
        package var attempt: Int
        package var payload: Data
        package var payloadEncrypted: Bool
        package var claimToken: UUID
        /// When the claim's lease ends, on this process's monotonic clock (measured from before the claim began).
        package var leaseEnds: ContinuousClock.Instant

        /// Creates a value from its fields.
        package init(
            deliveryID: UUID, messageID: UUID, endpointID: UUID, endpoint: Result<WebhookEndpoint, DeliveryFailure>, attempt: Int,
            payload: Data, payloadEncrypted: Bool, claimToken: UUID, leaseEnds: ContinuousClock.Instant
        ) {
            self.deliveryID = deliveryID
            self.messageID = messageID
            self.endpointID = endpointID
            self.endpoint = endpoint
            self.attempt = attempt
            self.payload = payload
            self.payloadEncrypted = payloadEncrypted
            self.claimToken = claimToken
            self.leaseEnds = leaseEnds
        }
    }

    /// Claims up to `limit` due deliveries of enabled endpoints (``WorkQueue/webhookDeliveries``), at most
    /// `perEndpoint` of each and, for the endpoints in `room`, at most as many as it says, and reads what sending
    /// them needs (the message's payload and the endpoint) in the same statement.
    package static func claim(
        limit: Int,
        perEndpoint: Int,
        room: [UUID: Int] = [:],
        now: Date,
        lease: Duration,
        encryption: FieldEncryption,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Claim] {
        let leaseEnds = ContinuousClock.now + lease
        let (token, rows) = try await WorkQueue.webhookDeliveries.claim(
            limit: limit, perPartition: perEndpoint, room: Dictionary(uniqueKeysWithValues: room.map { ($0.key.uuidString.lowercased(), $0.value) }),
            now: now, lease: lease,
            details: """
                SELECT c.id, c.attempts, d.message_id, m.payload, m.payload_encrypted, \(WebhookEndpointStore.columns(as: "e"))
                FROM claimed c JOIN webhook_deliveries d ON d.id = c.id JOIN webhook_messages m ON m.id = d.message_id
                    JOIN webhook_endpoints e ON e.id = d.endpoint_id
                ORDER BY c.next_attempt_at
                """,
            on: connection, logger: logger
        )
        var claims: [Claim] = []
        for try await row in rows {
            let (delivery, attempt, message, payload, encrypted) = try row.decode((UUID, Int, UUID, Data, Bool).self)
            let (endpointID, endpoint) = try WebhookEndpointStore.endpoint(from: row, skipping: 5, encryption: encryption)
            claims.append(
                Claim(
                    deliveryID: delivery, messageID: message, endpointID: endpointID, endpoint: endpoint, attempt: attempt,
                    payload: payload, payloadEncrypted: encrypted, claimToken: token, leaseEnds: leaseEnds
                )
            )
        }
        return claims
    }

    /// Gives back claims that were not attempted: due again at once, with the same attempt number.
    package static func release(_ claims: [Claim], on connection: PostgresConnection, logger: Logger) async throws {
        for (token, group) in Dictionary(grouping: claims, by: \.claimToken) {
            try await WorkQueue.webhookDeliveries.release(group.map(\.deliveryID), token: token, on: connection, logger: logger)
        }
    }

    /// How an attempt ended, for the record.
    package struct Outcome: Sendable {
        var startedAt: Date
        package var durationMilliseconds: Int
        var statusCode: Int?
        var responseBody: String?
        /// Whether `responseBody` is a token (``FieldEncryption/sealText(_:)``): a partner's answer may echo the payload.
        var responseEncrypted = false
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
            responseEncrypted: Bool = false,
            errorKind: String? = nil,
            status: WorkStatus,
            nextAttemptAt: Date? = nil,
            disableEndpoint: String? = nil
        ) {
            self.startedAt = startedAt
            self.durationMilliseconds = durationMilliseconds
            self.statusCode = statusCode
            self.responseBody = responseBody
            self.responseEncrypted = responseEncrypted
            self.errorKind = errorKind
            self.status = status
            self.nextAttemptAt = nextAttemptAt
            self.disableEndpoint = disableEndpoint
        }
    }

    /// Records attempts, each under its claim's token, their counters and the deliveries' new states, only where
    /// the claim still holds: one statement. Answers, per delivery whose claim held, whether this statement disabled
    /// its endpoint; a delivery missing from the answer lost its claim (the lease ran out and another drain took over).
    package static func finish(
        _ results: [(claim: Claim, outcome: Outcome)], now: Date, disableAfter: Double, on connection: PostgresConnection, logger: Logger
    ) async throws -> [UUID: Bool] {
        guard !results.isEmpty else { return [:] }
        var held: [UUID: Bool] = [:]
        let statement = FinishDeliveriesStatement(results, now: now, disableAfter: disableAfter)
        for try await (id, _, disabledNow) in try await connection.execute(statement, logger: logger) { held[id] = disabledNow }
        return held
    }
}
