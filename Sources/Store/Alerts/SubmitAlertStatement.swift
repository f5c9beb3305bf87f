import Domain
import Foundation
import PostgresNIO
import Primitives

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
                request_id, created_at, response, sealed_fields, fields_encrypted)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $18, $19, $19 IS NOT NULL)
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
        .uuidArray, .textArray, .int2, .textArray, .text, .bytea,
    ]

    package typealias Row = Int

    var id: UUID
    var alert: Alert
    var message: Data
    var messageEncrypted: Bool
    /// Subject, recipients and links as one token (``AlertFields``); the clear columns are then left empty.
    var sealedFields: Data?
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
        sealedFields: Data? = nil,
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
        self.sealedFields = sealedFields
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
        var bindings = PostgresBindings(capacity: 19)
        let sealed = sealedFields != nil
        bindings.append(id)
        bindings.append(alert.alertType)
        bindings.append(alert.severity.rawValue)
        bindings.append(sealed ? "" : alert.subject)
        try bindings.append(message)
        bindings.append(messageEncrypted)
        bindings.append(sealed ? [] : alert.recipients)
        bindings.append(sealed ? [] : alert.links)
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
        if let sealedFields { try bindings.append(sealedFields) } else { bindings.appendNull() }
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
}
