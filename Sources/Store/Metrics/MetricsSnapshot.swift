import Foundation
public import Logging
public import PostgresNIO

/// Everything `metrics` exposes, read in one statement (one snapshot, so every instance answers the same
/// numbers for the same moment) at a cost that does not grow with the event, delivery and alert tables:
/// counters are a few rows per series, gauges use the partial "due" indexes and capped counts.
public enum MetricsSnapshot {
    /// Counts of open work are capped here, so a scrape reads a bounded number of rows.
    public static let countCap = 100_000

    /// One sample.
    public struct Sample: Sendable, Equatable {
        /// Metric name.
        public var name: String
        /// Labels.
        public var labels: [String: String]
        /// Value.
        public var value: Double
        /// `counter` or `gauge`.
        public var kind: String

        /// Creates a sample.
        public init(name: String, labels: [String: String], value: Double, kind: String) {
            self.name = name
            self.labels = labels
            self.value = value
            self.kind = kind
        }
    }

    /// Reads counters and gauges.
    public static func read(on connection: PostgresConnection, logger: Logger) async throws -> [Sample] {
        let cap = countCap
        let rows = try await connection.query(
            """
            SELECT name, labels::text, sum(value)::float8, 'counter' FROM counters GROUP BY name, labels
            UNION ALL SELECT 'webhook_deliveries_due', '{}', (SELECT count(*) FROM (SELECT 1 FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= now() LIMIT \(cap)) due)::float8, 'gauge'
            UNION ALL SELECT 'webhook_deliveries_oldest_due_seconds', '{}', coalesce(extract(epoch FROM now() - (SELECT min(next_attempt_at)
                FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now())), 0)::float8, 'gauge'
            UNION ALL SELECT 'webhook_forwarding_backlog', '{}', (SELECT count(*) FROM (SELECT 1 FROM webhook_endpoints e
                CROSS JOIN LATERAL (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending' LIMIT \(cap)) p
                WHERE e.source_id IS NOT NULL LIMIT \(cap)) backlog)::float8, 'gauge'
            UNION ALL SELECT 'webhook_forwarding_backlog_age_seconds', '{}', coalesce(extract(epoch FROM now() - (SELECT min(p.created_at)
                FROM webhook_endpoints e CROSS JOIN LATERAL (SELECT d.created_at FROM webhook_deliveries d
                    WHERE d.endpoint_id = e.id AND d.status = 'pending' LIMIT \(cap)) p
                WHERE e.source_id IS NOT NULL)), 0)::float8, 'gauge'
            UNION ALL SELECT 'webhook_endpoints_currently_disabled', '{}', (SELECT count(*) FROM (SELECT 1 FROM webhook_endpoints
                WHERE NOT enabled LIMIT \(cap)) disabled)::float8, 'gauge'
            UNION ALL SELECT 'alert_sends_due', '{}', (SELECT count(*) FROM (SELECT 1 FROM alert_sends
                WHERE status = 'pending' AND next_attempt_at <= now() LIMIT \(cap)) due)::float8, 'gauge'
            UNION ALL SELECT 'alert_sends_oldest_due_seconds', '{}', coalesce(extract(epoch FROM now() - (SELECT min(next_attempt_at)
                FROM alert_sends WHERE status = 'pending' AND next_attempt_at <= now())), 0)::float8, 'gauge'
            UNION ALL SELECT 'auth_refresh_families_live', '{}', (SELECT count(*) FROM (SELECT 1 FROM refresh_token_families
                WHERE revoked_at IS NULL AND expires_at > now() LIMIT \(cap)) live)::float8, 'gauge'
            """,
            logger: logger
        )
        var samples: [Sample] = []
        for try await (name, labelsText, value, kind) in rows.decode((String, String, Double, String).self) {
            let labels = (try? JSONDecoder().decode([String: String].self, from: Data(labelsText.utf8))) ?? [:]
            samples.append(Sample(name: name, labels: labels, value: value, kind: kind))
        }
        return samples.sorted { ($0.name, $0.labels.description) < ($1.name, $1.labels.description) }
    }
}
