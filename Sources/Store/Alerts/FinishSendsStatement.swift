import Domain
import Foundation
import PostgresNIO
import Primitives

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
                last_error_encrypted = ($17::bool[])[\(at)],
                provider_message_id = coalesce(nullif(($7::text[])[\(at)], ''), s.provider_message_id),
                finished_at = CASE WHEN ($4::text[])[\(at)] = 'pending' THEN NULL ELSE $13 END
            WHERE s.id = ANY (ARRAY(SELECT unnest($2::uuid[]))) AND s.claim_token = $1
            RETURNING s.id, ($3::int8[])[\(at)] AS attempt, ($8::timestamptz[])[\(at)] AS started_at, ($9::int8[])[\(at)] AS duration_ms,
                ($10::int8[])[\(at)] AS status_code, ($6::text[])[\(at)] AS reason, ($11::text[])[\(at)] AS channel, ($12::text[])[\(at)] AS label,
                ($17::bool[])[\(at)] AS reason_encrypted
        ), recorded AS (
            INSERT INTO alert_send_attempts (send_id, attempt, started_at, duration_ms, status_code, error, error_encrypted)
            SELECT id, attempt, started_at, duration_ms, nullif(status_code, 0), nullif(reason, ''), reason_encrypted FROM held
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
        .textArray, .textArray, .timestamptz, .int2, .uuid, .text, .boolArray,
    ]

    package typealias Row = UUID

    var claimToken: UUID
    var sendIDs: [UUID]
    var attempts: [Int]
    var statuses: [String]
    var nextAttempts: [Date]
    var reasons: [String]
    /// Per row: the reason is a token (``FieldEncryption/sealText(_:)``).
    var reasonsEncrypted: [Bool]
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
        var bindings = PostgresBindings(capacity: 17)
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
        bindings.append(reasonsEncrypted)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
}
