import Foundation
import PostgresNIO

/// Records one attempt and the delivery's new state, only while the claim holds, in one statement: the
/// delivery row, the attempt row, the attempts counter, and the endpoint's failure streak (disabling it on
/// 410 or after failing too long). Prepared once per connection: it runs once per delivery attempt, and
/// planning it costs more than running it. Values are bound, never spliced.
struct FinishDeliveryStatement: PostgresPreparedStatement {
    static let sql = """
        WITH held AS (
            UPDATE webhook_deliveries SET status = $4, next_attempt_at = coalesce($5, next_attempt_at),
                claim_token = NULL, claimed_until = NULL, last_status_code = $6, last_error = $7,
                finished_at = CASE WHEN $4 = 'pending' THEN NULL ELSE $13 END
            WHERE id = $1 AND claim_token = $2
            RETURNING id, endpoint_id
        ), recorded AS (
            INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error_kind)
            SELECT id, $3, $9, $10, $6, $8, $7 FROM held
            ON CONFLICT (delivery_id, attempt) DO NOTHING
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'webhook_attempts_total', jsonb_build_object('outcome', $15::text), $16, 1 FROM held
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        ), streak AS (
            UPDATE webhook_endpoints e SET
                failure_streak = CASE WHEN $11 THEN 0 ELSE e.failure_streak + 1 END,
                failing_since = CASE WHEN $11 THEN NULL ELSE coalesce(e.failing_since, $13) END,
                enabled = CASE WHEN $12::text IS NOT NULL OR (NOT $11 AND coalesce(e.failing_since, $13) < $14)
                    THEN false ELSE e.enabled END,
                disabled_reason = CASE WHEN $12::text IS NOT NULL THEN $12::text
                    WHEN NOT $11 AND coalesce(e.failing_since, $13) < $14 THEN 'failing for too long' ELSE e.disabled_reason END,
                disabled_at = CASE WHEN $12::text IS NOT NULL OR (NOT $11 AND coalesce(e.failing_since, $13) < $14)
                    THEN $13 ELSE e.disabled_at END
            FROM held WHERE e.id = held.endpoint_id
            RETURNING e.enabled
        )
        SELECT enabled FROM streak
        """

    /// Types for the parameters PostgreSQL cannot infer from a NULL.
    static let bindingDataTypes: [PostgresDataType] = [
        .uuid, .uuid, .int8, .text, .timestamptz, .int8, .text, .text, .timestamptz, .int8, .bool, .text, .timestamptz,
        .timestamptz, .text, .int2,
    ]

    typealias Row = Bool

    var deliveryID: UUID
    var claimToken: UUID
    var attempt: Int
    var status: String
    var nextAttemptAt: Date?
    var statusCode: Int?
    var errorKind: String?
    var responseBody: String?
    var startedAt: Date
    var durationMilliseconds: Int
    var succeeded: Bool
    var disableReason: String?
    var now: Date
    var failingCutoff: Date
    var counterOutcome: String
    var shard: Int16

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 16)
        bindings.append(deliveryID)
        bindings.append(claimToken)
        bindings.append(attempt)
        bindings.append(status)
        bindings.append(nextAttemptAt)
        bindings.append(statusCode)
        bindings.append(errorKind)
        bindings.append(responseBody)
        bindings.append(startedAt)
        bindings.append(durationMilliseconds)
        bindings.append(succeeded)
        bindings.append(disableReason)
        bindings.append(now)
        bindings.append(failingCutoff)
        bindings.append(counterOutcome)
        bindings.append(shard)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Bool { try row.decode(Bool.self) }
}
