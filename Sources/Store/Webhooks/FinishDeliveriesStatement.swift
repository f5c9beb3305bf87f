import Foundation
import PostgresNIO
import Primitives

/// Records a batch of attempts, each under its own claim token, in one statement: each delivery's new state and attempt row
/// (only while the claim holds), the attempts counters, and each endpoint's failure streak (disabling it on 410 or
/// after failing too long). Answers, per delivery whose claim held, whether its endpoint is still enabled and
/// whether this statement disabled it.
///
/// A drain records results in batches (whatever finished while the previous batch was being written), so a busy
/// drain commits once per batch rather than once per delivery. Prepared once per connection; values are bound,
/// never spliced. Arrays cannot carry NULLs through PostgresNIO's encoders, so "none" travels as an empty string,
/// a zero status code or the epoch.
package struct FinishDeliveriesStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "FinishDeliveriesStatement"
    /// Stands for "no next attempt" in `nextAttempts`.
    static let none = Date(timeIntervalSince1970: 0)

    /// A row's position in the arrays.
    private static let at = "array_position($1::uuid[], d.id)"
    /// An endpoint's new `failing_since`: cleared by a success with no failure after it, set now by failures after
    /// a success, else kept (or set now by a first failure).
    private static let since = "CASE WHEN t.failures = 0 THEN (CASE WHEN t.reset THEN NULL ELSE e.failing_since END) "
        + "WHEN t.reset THEN $13::timestamptz ELSE coalesce(e.failing_since, $13::timestamptz) END"

    package static let sql = """
        WITH held AS (
            -- Found through the primary key by the id list, which goes through a subquery so that the cached generic
            -- plan is used (a join with unnest() plans as a hash join over the whole table).
            UPDATE webhook_deliveries d SET status = ($3::text[])[\(at)],
                next_attempt_at = CASE WHEN ($4::timestamptz[])[\(at)] = 'epoch'::timestamptz THEN d.next_attempt_at
                    ELSE ($4::timestamptz[])[\(at)] END,
                claim_token = NULL, claimed_until = NULL, last_status_code = nullif(($5::int8[])[\(at)], 0),
                last_error = nullif(($6::text[])[\(at)], ''),
                finished_at = CASE WHEN ($3::text[])[\(at)] = 'pending' THEN NULL ELSE $13::timestamptz END
            WHERE d.id = ANY (ARRAY(SELECT unnest($1::uuid[]))) AND d.claim_token = ($2::uuid[])[\(at)]
            RETURNING d.id, d.endpoint_id, \(at) AS i
        ), recorded AS (
            INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, response_body, error_kind, response_encrypted)
            SELECT id, ($7::int8[])[i], ($8::timestamptz[])[i], ($9::int8[])[i], nullif(($5::int8[])[i], 0),
                CASE WHEN ($10::bool[])[i] THEN ($11::text[])[i] END, nullif(($6::text[])[i], ''), ($18::bool[])[i]
            FROM held
            ON CONFLICT (delivery_id, attempt) DO NOTHING
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'webhook_attempts_total', jsonb_build_object('outcome', ($12::text[])[i]), $14, count(*) FROM held
            GROUP BY ($12::text[])[i]
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        ), consumer_counted AS (
            -- Attempts to consumers of received events, by source and outcome, beside the total above.
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'webhook_consumer_attempts_total', jsonb_build_object('source', s.slug, 'outcome', ($12::text[])[h.i]), $14, count(*)
            FROM held h JOIN webhook_endpoints e ON e.id = h.endpoint_id JOIN webhook_sources s ON s.id = e.source_id
            GROUP BY s.slug, ($12::text[])[h.i]
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        ), endpoint_batch AS (
            SELECT endpoint_id, max(i) FILTER (WHERE ($15::bool[])[i]) AS last_ok, max(nullif(($16::text[])[i], '')) AS reason
            FROM held GROUP BY endpoint_id
        ), tally AS (
            SELECT b.endpoint_id, b.last_ok IS NOT NULL AS reset, b.reason,
                count(*) FILTER (WHERE NOT ($15::bool[])[h.i] AND h.i > coalesce(b.last_ok, 0)) AS failures
            FROM held h JOIN endpoint_batch b USING (endpoint_id)
            GROUP BY b.endpoint_id, b.last_ok, b.reason
        ), before AS (
            -- Each endpoint this batch changes, as it stands now (locked, so a concurrent drain's change is seen): was
            -- it enabled? A success for an endpoint with no streak changes nothing, and takes no lock: publishes
            -- making first attempts to one endpoint would otherwise queue on its row, one commit at a time.
            SELECT e.id, e.enabled FROM webhook_endpoints e JOIN tally t ON t.endpoint_id = e.id
            WHERE t.failures > 0 OR t.reason IS NOT NULL OR e.failure_streak <> 0 OR e.failing_since IS NOT NULL
            FOR UPDATE OF e
        ), streak AS (
            UPDATE webhook_endpoints e SET
                failure_streak = CASE WHEN t.reset THEN t.failures ELSE e.failure_streak + t.failures END,
                failing_since = \(since),
                enabled = CASE WHEN t.reason IS NOT NULL OR (t.failures > 0 AND \(since) < $17) THEN false ELSE e.enabled END,
                -- Reason and time are those of the disabling; an endpoint already disabled keeps its own.
                disabled_reason = CASE WHEN NOT e.enabled THEN e.disabled_reason WHEN t.reason IS NOT NULL THEN t.reason
                    WHEN t.failures > 0 AND \(since) < $17 THEN 'failing for too long' ELSE e.disabled_reason END,
                disabled_at = CASE WHEN e.enabled AND (t.reason IS NOT NULL OR (t.failures > 0 AND \(since) < $17)) THEN $13::timestamptz
                    ELSE e.disabled_at END
            FROM tally t, before b WHERE e.id = t.endpoint_id AND b.id = e.id
            RETURNING e.id, e.enabled, b.enabled AND NOT e.enabled AS disabled_now
        )
        SELECT h.id, coalesce(s.enabled, true), coalesce(s.disabled_now, false) FROM held h LEFT JOIN streak s ON s.id = h.endpoint_id
        """

    package static let bindingDataTypes: [PostgresDataType] = [
        .uuidArray, .uuidArray, .textArray, .timestamptzArray, .int8Array, .textArray, .int8Array, .timestamptzArray, .int8Array,
        .boolArray, .textArray, .textArray, .timestamptz, .int2, .boolArray, .textArray, .timestamptz, .boolArray,
    ]

    package typealias Row = (UUID, Bool, Bool)

    var deliveryIDs: [UUID]
    var claimTokens: [UUID]
    var statuses: [String]
    var nextAttempts: [Date]
    var statusCodes: [Int]
    var errorKinds: [String]
    var attempts: [Int]
    var startedAts: [Date]
    var durations: [Int]
    var hasResponseBody: [Bool]
    var responseBodies: [String]
    /// Per row: the body is a token (``FieldEncryption/sealText(_:)``).
    var responsesEncrypted: [Bool]
    var counterOutcomes: [String]
    var now: Date
    var shard: Int16
    var succeeded: [Bool]
    var disableReasons: [String]
    var failingCutoff: Date

    /// The statement for `results`, which all hold the same claim token.
    init(_ results: [(claim: DeliveryQueue.Claim, outcome: DeliveryQueue.Outcome)], now: Date, disableAfter: Double) {
        deliveryIDs = results.map(\.claim.deliveryID)
        claimTokens = results.map(\.claim.claimToken)
        statuses = results.map { WorkQueue.webhookDeliveries.spelling(of: $0.outcome.status) }
        nextAttempts = results.map { $0.outcome.nextAttemptAt ?? Self.none }
        statusCodes = results.map { $0.outcome.statusCode ?? 0 }
        errorKinds = results.map { $0.outcome.errorKind ?? "" }
        attempts = results.map(\.claim.attempt)
        startedAts = results.map(\.outcome.startedAt)
        durations = results.map(\.outcome.durationMilliseconds)
        hasResponseBody = results.map { $0.outcome.responseBody != nil }
        responseBodies = results.map { $0.outcome.responseBody ?? "" }
        responsesEncrypted = results.map(\.outcome.responseEncrypted)
        counterOutcomes = results.map { $0.outcome.status.result.rawValue }
        self.now = now
        shard = Counters.randomShard()
        succeeded = results.map(\.outcome.succeeded)
        disableReasons = results.map { $0.outcome.disableEndpoint ?? "" }
        failingCutoff = now.addingTimeInterval(-disableAfter)
    }

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 18)
        bindings.append(deliveryIDs)
        bindings.append(claimTokens)
        bindings.append(statuses)
        bindings.append(nextAttempts)
        bindings.append(statusCodes)
        bindings.append(errorKinds)
        bindings.append(attempts)
        bindings.append(startedAts)
        bindings.append(durations)
        bindings.append(hasResponseBody)
        bindings.append(responseBodies)
        bindings.append(counterOutcomes)
        bindings.append(now)
        bindings.append(shard)
        bindings.append(succeeded)
        bindings.append(disableReasons)
        bindings.append(failingCutoff)
        bindings.append(responsesEncrypted)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode((UUID, Bool, Bool).self) }
}
