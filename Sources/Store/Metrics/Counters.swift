import Foundation
public import Logging
public import PostgresNIO
import Primitives

/// Durable counters in PostgreSQL that any function increments inside its own transaction, so a counted
/// outcome and the write it counts commit or roll back together. `metrics` reads them.
///
/// Each series is spread over a few shard rows, so concurrent transactions bumping one hot counter do not
/// queue on a single row lock; readers sum the shards.
public enum Counters {
    /// How many rows one series is spread over: enough that the 16 to 80 transactions one instance runs at once
    /// rarely pick the same row (each holds its row until it commits, an fsync later).
    static let shards = 32

    /// The shard row a writer bumps.
    package static func randomShard() -> Int16 {
        var random = SamplingRandom()
        return Int16.random(in: 0..<Int16(shards), using: &random)
    }

    /// One counter series and its total.
    public struct Sample: Sendable, Equatable {
        /// The metric name, for example `login_attempts_total`.
        public var name: String
        /// The labels, for example `["outcome": "success"]`.
        public var labels: [String: String]
        /// The total across shards.
        public var value: Int64
    }

    /// Adds `amount` to the series `name{labels}` on `connection` (inside the caller's transaction).
    public static func increment(
        _ name: String,
        labels: [String: String] = [:],
        by amount: Int64 = 1,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        let shard = randomShard()
        let labelsJSON = try encodedLabels(labels)
        try await connection.query(
            """
            INSERT INTO counters (name, labels, shard, value) VALUES (\(name), \(labelsJSON)::jsonb, \(shard), \(amount))
            ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
            """,
            logger: logger
        )
    }

    /// Every series with its total, ordered by name then labels.
    public static func all(on connection: PostgresConnection, logger: Logger) async throws -> [Sample] {
        let rows = try await connection.query(
            "SELECT name, labels::text, sum(value)::bigint FROM counters GROUP BY name, labels ORDER BY name, labels::text",
            logger: logger
        )
        var samples: [Sample] = []
        for try await (name, labelsText, value) in rows.decode((String, String, Int64).self) {
            let labels = (try? JSONDecoder().decode([String: String].self, from: Data(labelsText.utf8))) ?? [:]
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        return samples
    }

    private static func encodedLabels(_ labels: [String: String]) throws -> String {
        String(decoding: try JSONEncoder.stable.encode(labels), as: UTF8.self)
    }
}
