import Foundation
import PostgresNIO

/// Stores one received event and counts it (accepted, ignored, or duplicate when the sender's message id is
/// known) in one self-committing statement; answers whether the row is new. Prepared once per connection: it runs
/// once per received webhook of a source without consumers. Values are bound, never spliced.
///
/// A source with consumers takes ``ForwardEventStatement`` instead. Two statements, not one with the forwarding
/// parts idle: with no consumer at all, pgbench (16 clients, 2026-12-03) ran the combined statement at 65-75 % of
/// this one's rate. The likely cause: every table and index a statement may write is opened and locked for it even
/// when no row goes in, and past 16 relations a backend's locks leave PostgreSQL's fast path for the shared lock
/// table.
package struct StoreEventStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "StoreEventStatement"
    /// Stores the event (`inserted`: one row when it is new) and counts it: both statements start with this.
    static let storeAndCount = """
        WITH inserted AS (
            INSERT INTO webhook_events (id, source_id, source_slug, message_id, event_type, status, payload, payload_encrypted,
                received_at, request_id, response_status, response_body, unsigned_headers)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $15::jsonb)
            ON CONFLICT (source_id, message_id) DO NOTHING RETURNING 1
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'webhook_received_total', jsonb_build_object('source', $3::text, 'outcome',
                CASE WHEN EXISTS (SELECT 1 FROM inserted) THEN $13::text ELSE 'duplicate' END), $14, 1
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        )
        """

    package static let sql = storeAndCount + """

        SELECT EXISTS (SELECT 1 FROM inserted)
        """

    package static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .int8, .text, .text, .text, .text, .bytea, .bool, .timestamptz, .text, .int8, .text, .text, .int2, .text,
    ]

    /// Whether the event is new.
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
    /// `{"x-event-id": …, "x-event-type": …}` as JSON when the sender set headers no signature covers.
    var unsignedHeaders: String?

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
        shard: Int16,
        unsignedHeaders: String? = nil
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
        self.unsignedHeaders = unsignedHeaders
    }

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 15)
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
        bindings.append(unsignedHeaders)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Bool { try row.decode(Bool.self) }
}

/// ``StoreEventStatement`` for a source with consumers: stores and counts the event as that one does, and hands an
/// accepted new event to the source's consumers: one outgoing message and a delivery per enabled consumer whose
/// filters take the event's type (`*` takes untyped events too), created claimed by this call when it makes first
/// attempts. Answers whether the row is new, and the deliveries made (ids and their endpoints).
package struct ForwardEventStatement: PostgresPreparedStatement {
    /// The name it is prepared under.
    package static let name = "ForwardEventStatement"
    package static let sql = StoreEventStatement.storeAndCount + """
        , consumers AS (
            SELECT e.id FROM webhook_endpoints e
            WHERE $6 = 'accepted' AND e.source_id = $2 AND e.enabled AND EXISTS (SELECT 1 FROM inserted)
                AND ('*' = ANY (e.event_types) OR ($5::text IS NOT NULL AND EXISTS (
                    SELECT 1 FROM unnest(e.event_types) AS f (filter)
                    WHERE f.filter = $5 OR (right(f.filter, 2) = '.*' AND starts_with($5, left(f.filter, -1))))))
        ), message AS (
            INSERT INTO webhook_messages (id, event_type, payload, payload_encrypted, response, request_id, created_at, source_event_id)
            SELECT $16, $17, $18, $19, json_build_object('id', $16::uuid, 'deliveries', (SELECT count(*) FROM consumers))::text, $10, $9, $1
            WHERE EXISTS (SELECT 1 FROM consumers)
            RETURNING id
        ), deliveries AS (
            INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at, attempts, claim_token, claimed_until)
            SELECT gen_random_uuid(), m.id, c.id, 'pending', $9, $9, CASE WHEN $20::uuid IS NULL THEN 0 ELSE 1 END, $20, $21
            FROM message m CROSS JOIN consumers c
            RETURNING id, endpoint_id
        ), forwarded AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT counter.name, counter.labels, $14, counter.value FROM (VALUES
                ('webhook_events_forwarded_total', jsonb_build_object('source', $3::text), 1::bigint),
                ('webhook_deliveries_created_total', '{}'::jsonb, (SELECT count(*) FROM consumers))
            ) AS counter (name, labels, value)
            WHERE EXISTS (SELECT 1 FROM consumers)
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        )
        SELECT EXISTS (SELECT 1 FROM inserted),
            coalesce((SELECT array_agg(id) FROM deliveries), '{}'), coalesce((SELECT array_agg(endpoint_id) FROM deliveries), '{}')
        """

    package static let bindingDataTypes: [PostgresDataType] = StoreEventStatement.bindingDataTypes + [.uuid, .text, .bytea, .bool, .uuid, .timestamptz]

    /// Whether the event is new, and the deliveries made for its consumers (ids, and each one's endpoint).
    package typealias Row = (fresh: Bool, deliveries: [UUID], endpoints: [UUID])

    /// The outgoing message an accepted event becomes when its source has consumers.
    package struct Forward: Sendable {
        /// The message's id.
        var id: UUID
        /// `<source>.<event type>` (the source alone for an untyped event).
        var type: String
        /// The envelope consumers receive, sealed as stored.
        var payload: Data
        var payloadEncrypted: Bool
        /// The claim the deliveries are created under when this call makes first attempts (nil: due now, for a drain).
        var claimToken: UUID?
        var claimedUntil: Date?

        /// Creates a value from its fields.
        package init(id: UUID, type: String, payload: Data, payloadEncrypted: Bool, claimToken: UUID?, claimedUntil: Date?) {
            self.id = id
            self.type = type
            self.payload = payload
            self.payloadEncrypted = payloadEncrypted
            self.claimToken = claimToken
            self.claimedUntil = claimedUntil
        }
    }

    var event: StoreEventStatement
    var forward: Forward

    /// The event, and the message it becomes.
    package init(event: StoreEventStatement, forward: Forward) {
        self.event = event
        self.forward = forward
    }

    package func makeBindings() throws -> PostgresBindings {
        var bindings = try event.makeBindings()
        bindings.append(forward.id)
        bindings.append(forward.type)
        try bindings.append(forward.payload)
        bindings.append(forward.payloadEncrypted)
        bindings.append(forward.claimToken)
        bindings.append(forward.claimedUntil)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Row {
        let (fresh, deliveries, endpoints) = try row.decode((Bool, [UUID], [UUID]).self)
        return (fresh, deliveries, endpoints)
    }
}
