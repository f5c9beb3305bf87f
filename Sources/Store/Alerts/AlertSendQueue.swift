import Domain
import Foundation
import Logging
import PostgresNIO
import Primitives

/// Alert sends on the one leased ``WorkQueue``: what a claimed send carries, and the batched finish that records
/// attempts, counters and the alert's answer under the claim.
package enum AlertSendQueue {
    package struct Claim: Sendable {
        package var sendID: UUID
        package var alertID: UUID
        package var channel: String
        package var attempt: Int
        var claimToken: UUID
        package var severity: String
        package var alertType: String
        package var subject: String
        package var message: Data
        package var messageEncrypted: Bool
        package var recipients: [String]
        package var links: [String]
        /// Subject, recipients and links as one token (``AlertFields``) when stored encrypted: the three fields
        /// above are then empty until opened.
        package var sealedFields: Data?
        package var createdAt: Date
        /// When the claim's lease ends, on this process's monotonic clock (measured from before the claim began).
        package var leaseEnds: ContinuousClock.Instant

        /// Creates a value from its fields.
        package init(
            sendID: UUID,
            alertID: UUID,
            channel: String,
            attempt: Int,
            claimToken: UUID,
            severity: String,
            alertType: String,
            subject: String,
            message: Data,
            messageEncrypted: Bool,
            recipients: [String],
            links: [String],
            sealedFields: Data? = nil,
            createdAt: Date,
            leaseEnds: ContinuousClock.Instant
        ) {
            self.sendID = sendID
            self.alertID = alertID
            self.channel = channel
            self.attempt = attempt
            self.claimToken = claimToken
            self.severity = severity
            self.alertType = alertType
            self.subject = subject
            self.message = message
            self.messageEncrypted = messageEncrypted
            self.recipients = recipients
            self.links = links
            self.sealedFields = sealedFields
            self.createdAt = createdAt
            self.leaseEnds = leaseEnds
        }
    }

    package struct Outcome: Sendable {
        var startedAt: Date
        var durationMilliseconds: Int
        var statusCode: Int?
        package var status: WorkStatus
        var nextAttemptAt: Date?
        var reason: String?
        /// Whether `reason` is a token (``FieldEncryption/sealText(_:)``): a provider's error text may echo what it was sent.
        var reasonEncrypted = false
        var providerID: String?

        /// Creates a value from its fields.
        package init(
            startedAt: Date,
            durationMilliseconds: Int,
            statusCode: Int? = nil,
            status: WorkStatus,
            nextAttemptAt: Date? = nil,
            reason: String? = nil,
            reasonEncrypted: Bool = false,
            providerID: String? = nil
        ) {
            self.startedAt = startedAt
            self.durationMilliseconds = durationMilliseconds
            self.statusCode = statusCode
            self.status = status
            self.nextAttemptAt = nextAttemptAt
            self.reason = reason
            self.reasonEncrypted = reasonEncrypted
            self.providerID = providerID
        }

        /// The `alert_sends_total` outcome label (`sent`, `retrying`, `failed`).
        var counterLabel: String { status == .succeeded ? "sent" : status.result.rawValue }
    }

    /// Claims up to `limit` due sends (``WorkQueue/alertSends``), at most `perChannel` of each channel, and reads
    /// what sending them needs: the alert.
    package static func claim(limit: Int, perChannel: Int, now: Date, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> [Claim] {
        let leaseEnds = ContinuousClock.now + lease
        let (token, rows) = try await WorkQueue.alertSends.claim(
            limit: limit, perPartition: perChannel, now: now, lease: lease,
            details: """
                SELECT c.id, c.attempts, s.alert_id, s.channel, a.severity, a.alert_type, a.subject, a.message, a.message_encrypted,
                    a.recipients, a.links, a.created_at, a.sealed_fields
                FROM claimed c JOIN alert_sends s ON s.id = c.id JOIN alerts a ON a.id = s.alert_id
                ORDER BY c.next_attempt_at
                """,
            on: connection, logger: logger
        )
        var claims: [Claim] = []
        for try await row in rows {
            let (id, attempt, alert, channel, severity, type, subject, message, encrypted, recipients, links, created, sealed) = try row.decode(
                (UUID, Int, UUID, String, String, String, String, Data, Bool, [String], [String], Date, Data?).self
            )
            claims.append(
                Claim(
                    sendID: id, alertID: alert, channel: channel, attempt: attempt, claimToken: token, severity: severity,
                    alertType: type, subject: subject, message: message, messageEncrypted: encrypted, recipients: recipients,
                    links: links, sealedFields: sealed, createdAt: created, leaseEnds: leaseEnds
                )
            )
        }
        return claims
    }

    /// Gives back claims that were not attempted: due again at once, with the same attempt number.
    package static func release(_ claims: [Claim], on connection: PostgresConnection, logger: Logger) async throws {
        for (token, group) in Dictionary(grouping: claims, by: \.claimToken) {
            try await WorkQueue.alertSends.release(group.map(\.sendID), token: token, on: connection, logger: logger)
        }
    }

    /// Records attempts that share one claim token, in one statement: each send's new state and attempt row
    /// (only while the claim holds), the counters, and optionally the answer stored for an alert. Returns the
    /// ids of the sends whose claim still held.
    package static func finish(
        _ results: [(claim: Claim, outcome: Outcome)], answer: (alertID: UUID, body: String)? = nil, now: Date,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Set<UUID> {
        guard let token = results.first?.claim.claimToken else { return [] }
        precondition(results.allSatisfy { $0.claim.claimToken == token }, "one statement finishes one claim")
        let statement = FinishSendsStatement(
            claimToken: token, sendIDs: results.map(\.claim.sendID), attempts: results.map(\.claim.attempt),
            statuses: results.map { WorkQueue.alertSends.spelling(of: $0.outcome.status) },
            nextAttempts: results.map { $0.outcome.nextAttemptAt ?? FinishSendsStatement.none },
            reasons: results.map { $0.outcome.reason ?? "" }, reasonsEncrypted: results.map(\.outcome.reasonEncrypted), providerIDs: results.map { $0.outcome.providerID ?? "" },
            startedAts: results.map(\.outcome.startedAt), durations: results.map(\.outcome.durationMilliseconds),
            statusCodes: results.map { $0.outcome.statusCode ?? 0 }, channels: results.map(\.claim.channel),
            labels: results.map(\.outcome.counterLabel), now: now, shard: Counters.randomShard(),
            answerAlertID: answer?.alertID, answer: answer?.body
        )
        var held: Set<UUID> = []
        for try await id in try await connection.execute(statement, logger: logger) { held.insert(id) }
        return held
    }
}
