import Foundation
import PostgresNIO

/// Publishes one event in one self-committing statement: the message, a delivery per enabled endpoint subscribed
/// to its type (not a source's consumers), and the two counters; nothing when the idempotency key is already
/// taken. Answers whether the message is new and the deliveries made (ids, and each one's endpoint). Prepared once
/// per connection, values bound, never spliced.
///
/// One statement where a transaction took seven round trips (BEGIN, subscribers, message, deliveries, two
/// counters, COMMIT): publish -> delivered waited on each under load. The subscription rule is
/// `EventTypeFilter.matches`: `*`, the exact type, or `prefix.*` taking every type that starts with `prefix.`.
package struct PublishStatement: PostgresPreparedStatement {
    /// The name it is prepared under.
    package static let name = "PublishStatement"
    package static let sql = """
        WITH subscribers AS (
            SELECT e.id FROM webhook_endpoints e
            WHERE e.enabled AND e.source_id IS NULL AND EXISTS (
                SELECT 1 FROM unnest(e.event_types) AS f (filter)
                WHERE f.filter = '*' OR f.filter = $2 OR (right(f.filter, 2) = '.*' AND starts_with($2, left(f.filter, -1))))
        ), message AS (
            INSERT INTO webhook_messages (id, event_type, payload, payload_encrypted, idempotency_key, response, request_id, created_at)
            VALUES ($1, $2, $3, $4, $5, json_build_object('id', $1::uuid, 'deliveries', (SELECT count(*) FROM subscribers))::text, $6, $7)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
        ), deliveries AS (
            INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at, attempts, claim_token, claimed_until)
            SELECT gen_random_uuid(), m.id, s.id, 'pending', $7, $7, CASE WHEN $8::uuid IS NULL THEN 0 ELSE 1 END, $8, $9
            FROM message m CROSS JOIN subscribers s
            RETURNING id, endpoint_id
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT counter.name, '{}'::jsonb, $10, counter.value FROM (VALUES
                ('webhook_messages_total', 1::bigint),
                ('webhook_deliveries_created_total', (SELECT count(*) FROM subscribers))
            ) AS counter (name, value)
            WHERE EXISTS (SELECT 1 FROM message)
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        )
        SELECT EXISTS (SELECT 1 FROM message),
            coalesce((SELECT array_agg(id) FROM deliveries), '{}'), coalesce((SELECT array_agg(endpoint_id) FROM deliveries), '{}')
        """

    package static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .text, .bytea, .bool, .text, .text, .timestamptz, .uuid, .timestamptz, .int2,
    ]

    /// Whether the message is new, and the deliveries made (ids, and each one's endpoint).
    package typealias Row = (fresh: Bool, deliveries: [UUID], endpoints: [UUID])

    var id: UUID
    var type: String
    var payload: Data
    var payloadEncrypted: Bool
    var idempotencyKey: String?
    var requestID: String?
    var now: Date
    /// The claim the deliveries are created under when this call makes first attempts (nil: due now, for a drain).
    var claimToken: UUID?
    var claimedUntil: Date?
    var shard: Int16

    /// Creates a value from its fields.
    package init(
        id: UUID, type: String, payload: Data, payloadEncrypted: Bool, idempotencyKey: String?, requestID: String?, now: Date,
        claimToken: UUID?, claimedUntil: Date?, shard: Int16
    ) {
        self.id = id
        self.type = type
        self.payload = payload
        self.payloadEncrypted = payloadEncrypted
        self.idempotencyKey = idempotencyKey
        self.requestID = requestID
        self.now = now
        self.claimToken = claimToken
        self.claimedUntil = claimedUntil
        self.shard = shard
    }

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 10)
        bindings.append(id)
        bindings.append(type)
        try bindings.append(payload)
        bindings.append(payloadEncrypted)
        bindings.append(idempotencyKey)
        bindings.append(requestID)
        bindings.append(now)
        bindings.append(claimToken)
        bindings.append(claimedUntil)
        bindings.append(shard)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Row {
        let (fresh, deliveries, endpoints) = try row.decode((Bool, [UUID], [UUID]).self)
        return (fresh, deliveries, endpoints)
    }
}
