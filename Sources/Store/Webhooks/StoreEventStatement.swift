import Foundation
import PostgresNIO

/// Stores one received event and counts it (accepted, ignored, or duplicate when the sender's message id is
/// known) in one self-committing statement; answers whether the row is new. Prepared once per connection: it runs
/// once per received webhook. Values are bound, never spliced.
package struct StoreEventStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "StoreEventStatement"
    package static let sql = """
        WITH inserted AS (
            INSERT INTO webhook_events (id, source_id, source_slug, message_id, event_type, status, payload, payload_encrypted,
                received_at, request_id, response_status, response_body)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (source_id, message_id) DO NOTHING RETURNING 1
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'webhook_received_total', jsonb_build_object('source', $3::text, 'outcome',
                CASE WHEN EXISTS (SELECT 1 FROM inserted) THEN $13::text ELSE 'duplicate' END), $14, 1
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        )
        SELECT EXISTS (SELECT 1 FROM inserted)
        """

    package static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .int8, .text, .text, .text, .text, .bytea, .bool, .timestamptz, .text, .int8, .text, .text, .int2,
    ]

    package typealias Row = Bool

    var id: UUID
    var sourceID: Int64
    var sourceSlug: String
    var messageID: String
    var eventType: String?
    var status: String
    var payload: Data
    var payloadEncrypted: Bool
    var receivedAt: Date
    var requestID: String?
    var responseStatus: Int
    var responseBody: String
    var outcome: String
    var shard: Int16

    /// Creates a value from its fields.
    package init(
        id: UUID,
        sourceID: Int64,
        sourceSlug: String,
        messageID: String,
        eventType: String? = nil,
        status: String,
        payload: Data,
        payloadEncrypted: Bool,
        receivedAt: Date,
        requestID: String? = nil,
        responseStatus: Int,
        responseBody: String,
        outcome: String,
        shard: Int16
    ) {
        self.id = id
        self.sourceID = sourceID
        self.sourceSlug = sourceSlug
        self.messageID = messageID
        self.eventType = eventType
        self.status = status
        self.payload = payload
        self.payloadEncrypted = payloadEncrypted
        self.receivedAt = receivedAt
        self.requestID = requestID
        self.responseStatus = responseStatus
        self.responseBody = responseBody
        self.outcome = outcome
        self.shard = shard
    }

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 14)
        bindings.append(id)
        bindings.append(sourceID)
        bindings.append(sourceSlug)
        bindings.append(messageID)
        bindings.append(eventType)
        bindings.append(status)
        try bindings.append(payload)
        bindings.append(payloadEncrypted)
        bindings.append(receivedAt)
        bindings.append(requestID)
        bindings.append(responseStatus)
        bindings.append(responseBody)
        bindings.append(outcome)
        bindings.append(shard)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Bool { try row.decode(Bool.self) }
}
