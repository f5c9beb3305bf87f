/// The schema, in order. Append new migrations; never edit one that has shipped.
public enum Migrations {
    /// Every migration the binary knows.
    public static let all: [Migration] = [
        Migration(
            version: 1,
            name: "counters",
            statements: [
                """
                CREATE TABLE counters (
                    name text NOT NULL,
                    labels jsonb NOT NULL DEFAULT '{}'::jsonb,
                    shard smallint NOT NULL DEFAULT 0,
                    value bigint NOT NULL DEFAULT 0,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (name, labels, shard)
                )
                """,
                "COMMENT ON TABLE counters IS 'Durable monotonic counters; sum value over shards for a series.'",
            ]
        )
    ]
}
