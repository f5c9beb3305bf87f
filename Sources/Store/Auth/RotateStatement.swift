import Foundation
import PostgresNIO

/// One refresh as one self-committing statement: mark the token used if it is unused, its family live and
/// its user active; record its successor, the audit event and the counter. All or nothing, like a
/// transaction, in one round trip. No row back means "not this path": the caller diagnoses in a transaction.
///
/// It is a prepared statement (parsed and planned once per connection), because refresh is the busiest
/// function and planning this statement costs more than running it. Values are bound, never spliced.
/// The audit and counter writes repeat `AuditLog.record` and `Counters.increment` as CTEs on purpose.
package struct RotateStatement: PostgresPreparedStatement {
    /// The name it is prepared under (postgres-nio's default reflects the type's name on every execution).
    package static let name = "RotateStatement"
    package static let sql = """
        WITH used AS (
            UPDATE refresh_tokens t SET used_at = $6
            FROM refresh_token_families f, users u
            WHERE t.jti = $1 AND t.token_sha256 = $2 AND t.used_at IS NULL
              AND f.id = t.family_id AND f.revoked_at IS NULL AND f.expires_at > $6
              AND u.id = f.user_id AND u.is_active
            RETURNING t.family_id, f.user_id
        ), successor AS (
            INSERT INTO refresh_tokens (jti, family_id, token_sha256, issued_at, expires_at)
            SELECT $3, family_id, $4, $6, $5 FROM used
            RETURNING family_id
        ), audited AS (
            INSERT INTO audit_events (at, action, outcome, user_id, request_id, client_address)
            SELECT $6, 'refresh', 'success', user_id, $7, $8 FROM used
        ), counted AS (
            INSERT INTO counters (name, labels, shard, value)
            SELECT 'auth_refresh_total', '{"outcome": "success"}'::jsonb, $9, 1 FROM used
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
        )
        SELECT used.family_id, used.user_id FROM used JOIN successor ON successor.family_id = used.family_id
        """

    package typealias Row = (family: UUID, userID: Int64)

    var jti: String
    var tokenDigest: Data
    var successorJTI: String
    var successorDigest: Data
    var successorExpiresAt: Date
    var now: Date
    var requestID: String?
    var clientAddress: String?
    var shard: Int16

    package func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 9)
        bindings.append(jti)
        try bindings.append(tokenDigest)
        bindings.append(successorJTI)
        try bindings.append(successorDigest)
        bindings.append(successorExpiresAt)
        bindings.append(now)
        try bindings.append(requestID)
        try bindings.append(clientAddress)
        bindings.append(shard)
        return bindings
    }

    package func decodeRow(_ row: PostgresRow) throws -> Row {
        let (family, userID) = try row.decode((UUID, Int64).self)
        return (family, userID)
    }
}
