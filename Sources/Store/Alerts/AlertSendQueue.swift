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
        package var createdAt: Date

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
            createdAt: Date
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
            self.createdAt = createdAt
        }
    }

    package struct Outcome: Sendable {
        var startedAt: Date
        var durationMilliseconds: Int
        var statusCode: Int?
        package var status: WorkStatus
        var nextAttemptAt: Date?
        var reason: String?
        var providerID: String?

        /// Creates a value from its fields.
        package init(
            startedAt: Date,
            durationMilliseconds: Int,
            statusCode: Int? = nil,
            status: WorkStatus,
            nextAttemptAt: Date? = nil,
            reason: String? = nil,
            providerID: String? = nil
        ) {
            self.startedAt = startedAt
            self.durationMilliseconds = durationMilliseconds
            self.statusCode = statusCode
            self.status = status
            self.nextAttemptAt = nextAttemptAt
            self.reason = reason
            self.providerID = providerID
        }

        /// The `alert_sends_total` outcome label (`sent`, `retrying`, `failed`).
        var counterLabel: String { status == .succeeded ? "sent" : status.result.rawValue }
    }

    /// Claims up to `limit` due sends (``WorkQueue/alertSends``) and reads what sending them needs: the alert.
    package static func claim(limit: Int, now: Date, lease: Duration, on connection: PostgresConnection, logger: Logger) async throws -> [Claim] {
        let claim = try await WorkQueue.alertSends.claim(limit: limit, now: now, lease: lease, on: connection, logger: logger)
        guard !claim.items.isEmpty else { return [] }
        let rows = try await connection.query(
            """
            SELECT s.id, s.alert_id, s.channel, a.severity, a.alert_type, a.subject, a.message, a.message_encrypted, a.recipients,
                a.links, a.created_at
            FROM alert_sends s JOIN alerts a ON a.id = s.alert_id
            WHERE s.id = ANY(\(claim.items.map(\.id)))
            """,
            logger: logger
        )
        let attempts = Dictionary(claim.items.map { ($0.id, $0.attempt) }) { first, _ in first }
        var claims: [Claim] = []
        for try await row in rows {
            let (id, alert, channel, severity, type, subject, message, encrypted, recipients, links, created) = try row.decode(
                (UUID, UUID, String, String, String, String, Data, Bool, [String], [String], Date).self
            )
            guard let attempt = attempts[id] else { continue }
            claims.append(
                Claim(
                    sendID: id, alertID: alert, channel: channel, attempt: attempt, claimToken: claim.token, severity: severity,
                    alertType: type, subject: subject, message: message, messageEncrypted: encrypted, recipients: recipients,
                    links: links, createdAt: created
                )
            )
        }
        return claims
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
            reasons: results.map { $0.outcome.reason ?? "" }, providerIDs: results.map { $0.outcome.providerID ?? "" },
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

/// Stores an alert, its sends and its counters in one statement; answers 1 when stored, 0 for a known
/// idempotency key. A send to be tried by the submitting request is stored pending and already claimed by it
/// (so no drain takes it meanwhile); a send that is made locally (the console backend) is stored as sent, with
/// its attempt and counter, and the answer is stored with the alert when every send is local.
/// Prepared once per connection: it runs once per alert. Values are bound, never spliced.
package struct SubmitAlertStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "SubmitAlertStatement"
    package static let sql = """
        WITH inserted AS (
            INSERT INTO alerts (id, alert_type, severity, subject, message, message_encrypted, recipients, links, idempotency_key,
                request_id, created_at, response)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $18)
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
        ), sends AS (
            INSERT INTO alert_sends (id, alert_id, channel, status, attempts, next_attempt_at, claim_token, claimed_until,
                provider_message_id, created_at, finished_at)
            SELECT send.id, inserted.id, send.channel, send.status, 1, $11,
                CASE WHEN send.status = 'pending' THEN $12 END, CASE WHEN send.status = 'pending' THEN $13 END,
                CASE WHEN send.status = 'sent' THEN 'console' END, $11, CASE WHEN send.status = 'sent' THEN $11 END
            FROM inserted, unnest($14::uuid[], $15::text[], $17::text[]) AS send(id, channel, status)
            RETURNING id, channel, status
        ), recorded AS (
            INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms)
            SELECT id, 1, $11, 0 FROM sends WHERE status = 'sent'
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'alerts_total', jsonb_build_object('severity', $3::text), $16, 1 FROM inserted
            UNION ALL
            SELECT 'alert_sends_total', jsonb_build_object('channel', channel, 'outcome', 'sent'), $16, count(*) FROM sends
            WHERE status = 'sent' GROUP BY channel
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        )
        SELECT count(*)::int8 FROM inserted
        """

    package static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .text, .text, .text, .bytea, .bool, .textArray, .textArray, .text, .text, .timestamptz, .uuid, .timestamptz,
        .uuidArray, .textArray, .int2, .textArray, .text,
    ]

    package typealias Row = Int

    var id: UUID
    var alert: Alert
    var message: Data
    var messageEncrypted: Bool
    var requestID: String?
    var now: Date
    var claimToken: UUID
    var leaseEnd: Date
    var sendIDs: [UUID]
    var channels: [String]
    var shard: Int16
    /// Per send: pending (tried by the caller under the claim) or succeeded (made locally after the commit).
    var statuses: [WorkStatus]
    /// The answer, when it is already known (every send local).
    var answer: String?

    /// Creates a value from its fields.
    package init(
        id: UUID,
        alert: Alert,
        message: Data,
        messageEncrypted: Bool,
        requestID: String? = nil,
        now: Date,
        claimToken: UUID,
        leaseEnd: Date,
        sendIDs: [UUID],
        channels: [String],
        shard: Int16,
        statuses: [WorkStatus],
        answer: String? = nil
    ) {
        self.id = id
        self.alert = alert
        self.message = message
        self.messageEncrypted = messageEncrypted
        self.requestID = requestID
        self.now = now
        self.claimToken = claimToken
        self.leaseEnd = leaseEnd
        self.sendIDs = sendIDs
        self.channels = channels
        self.shard = shard
        self.statuses = statuses
        self.answer = answer
    }

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 18)
        bindings.append(id)
        bindings.append(alert.alertType)
        bindings.append(alert.severity.rawValue)
        bindings.append(alert.subject)
        try bindings.append(message)
        bindings.append(messageEncrypted)
        bindings.append(alert.recipients)
        bindings.append(alert.links)
        bindings.append(alert.idempotencyKey)
        bindings.append(requestID)
        bindings.append(now)
        bindings.append(claimToken)
        bindings.append(leaseEnd)
        bindings.append(sendIDs)
        bindings.append(channels)
        bindings.append(shard)
        bindings.append(statuses.map(WorkQueue.alertSends.spelling(of:)))
        bindings.append(answer)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
}

/// The batched finish of ``AlertSendQueue/finish(_:answer:now:on:logger:)``. Arrays cannot carry NULLs through
/// PostgresNIO's encoders, so "none" travels as an empty string, a zero status code or ``none`` (the epoch).
package struct FinishSendsStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "FinishSendsStatement"
    /// Stands for "no next attempt" in `nextAttempts`.
    static let none = Date(timeIntervalSince1970: 0)

    /// A row's position in the arrays.
    private static let at = "array_position($2::uuid[], s.id)"

    package static let sql = """
        WITH held AS (
            -- Found through the primary key by the id list (a join with unnest() plans as a hash join over the whole
            -- table), which goes through a subquery so that custom plans cost the same as the cached generic one and
            -- the generic plan is used; each row takes its values at its position in the arrays.
            UPDATE alert_sends s SET status = ($4::text[])[\(at)],
                next_attempt_at = CASE WHEN ($5::timestamptz[])[\(at)] = 'epoch'::timestamptz THEN s.next_attempt_at ELSE ($5::timestamptz[])[\(at)] END,
                claim_token = NULL, claimed_until = NULL, last_error = nullif(($6::text[])[\(at)], ''),
                provider_message_id = coalesce(nullif(($7::text[])[\(at)], ''), s.provider_message_id),
                finished_at = CASE WHEN ($4::text[])[\(at)] = 'pending' THEN NULL ELSE $13 END
            WHERE s.id = ANY (ARRAY(SELECT unnest($2::uuid[]))) AND s.claim_token = $1
            RETURNING s.id, ($3::int8[])[\(at)] AS attempt, ($8::timestamptz[])[\(at)] AS started_at, ($9::int8[])[\(at)] AS duration_ms,
                ($10::int8[])[\(at)] AS status_code, ($6::text[])[\(at)] AS reason, ($11::text[])[\(at)] AS channel, ($12::text[])[\(at)] AS label
        ), recorded AS (
            INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms, status_code, error)
            SELECT id, attempt, started_at, duration_ms, nullif(status_code, 0), nullif(reason, '') FROM held
            ON CONFLICT (send_id, attempt) DO NOTHING
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'alert_sends_total', jsonb_build_object('channel', channel, 'outcome', label), $14, count(*) FROM held
            GROUP BY channel, label
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        ), answered AS (
            UPDATE alerts SET response = $16 WHERE id = $15 AND $16 IS NOT NULL
        )
        SELECT id FROM held
        """

    package static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .uuidArray, .int8Array, .textArray, .timestamptzArray, .textArray, .textArray, .timestamptzArray, .int8Array, .int8Array,
        .textArray, .textArray, .timestamptz, .int2, .uuid, .text,
    ]

    package typealias Row = UUID

    var claimToken: UUID
    var sendIDs: [UUID]
    var attempts: [Int]
    var statuses: [String]
    var nextAttempts: [Date]
    var reasons: [String]
    var providerIDs: [String]
    var startedAts: [Date]
    var durations: [Int]
    var statusCodes: [Int]
    var channels: [String]
    var labels: [String]
    var now: Date
    var shard: Int16
    var answerAlertID: UUID?
    var answer: String?

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(claimToken)
        bindings.append(sendIDs)
        bindings.append(attempts)
        bindings.append(statuses)
        bindings.append(nextAttempts)
        bindings.append(reasons)
        bindings.append(providerIDs)
        bindings.append(startedAts)
        bindings.append(durations)
        bindings.append(statusCodes)
        bindings.append(channels)
        bindings.append(labels)
        bindings.append(now)
        bindings.append(shard)
        bindings.append(answerAlertID)
        bindings.append(answer)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
}
