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
        ),
        Migration(
            version: 2,
            name: "auth",
            statements: [
                """
                CREATE TABLE users (
                    id bigserial PRIMARY KEY,
                    username text NOT NULL UNIQUE,
                    email text NOT NULL DEFAULT '',
                    password text NOT NULL,
                    is_active boolean NOT NULL DEFAULT true,
                    is_staff boolean NOT NULL DEFAULT false,
                    date_joined timestamptz NOT NULL DEFAULT now(),
                    last_login timestamptz
                )
                """,
                "COMMENT ON COLUMN users.password IS 'Django format: pbkdf2_sha256$iterations$salt$hash; ! prefix = unusable'",
                """
                CREATE TABLE refresh_token_families (
                    id uuid PRIMARY KEY,
                    user_id bigint NOT NULL,
                    origin text NOT NULL,
                    created_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    revoked_at timestamptz,
                    revoked_reason text
                )
                """,
                "CREATE INDEX refresh_token_families_user ON refresh_token_families (user_id)",
                "CREATE INDEX refresh_token_families_expiry ON refresh_token_families (expires_at)",
                """
                CREATE TABLE refresh_tokens (
                    jti text PRIMARY KEY,
                    family_id uuid NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
                    token_sha256 bytea NOT NULL,
                    issued_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    used_at timestamptz
                )
                """,
                "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
                "CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at)",
                "COMMENT ON TABLE refresh_tokens IS 'Issued refresh tokens by jti and SHA-256; never the token itself'",
                """
                CREATE TABLE login_failures (
                    id bigserial PRIMARY KEY,
                    scope text NOT NULL,
                    key_sha256 bytea NOT NULL,
                    at timestamptz NOT NULL
                )
                """,
                "CREATE INDEX login_failures_lookup ON login_failures (scope, key_sha256, at)",
                "CREATE INDEX login_failures_at ON login_failures (at)",
                """
                CREATE TABLE audit_events (
                    id bigserial PRIMARY KEY,
                    at timestamptz NOT NULL,
                    action text NOT NULL,
                    outcome text NOT NULL,
                    user_id bigint,
                    username text,
                    actor text,
                    request_id text,
                    client_address text,
                    detail jsonb NOT NULL DEFAULT '{}'::jsonb
                )
                """,
                "CREATE INDEX audit_events_at ON audit_events (at)",
                "CREATE INDEX audit_events_user ON audit_events (user_id, at)",
                "COMMENT ON TABLE audit_events IS 'Who did what, when: never a password or a token'",
            ]
        ),
    ]
}
