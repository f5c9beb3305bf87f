import Domain

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
        Migration(
            version: 3,
            name: "webhooks",
            statements: [
                """
                CREATE TABLE webhook_sources (
                    id bigserial PRIMARY KEY,
                    slug text NOT NULL UNIQUE,
                    scheme text NOT NULL CHECK (scheme IN ('standard', 'hmac-sha256')),
                    secret text NOT NULL,
                    previous_secret text,
                    previous_secret_until timestamptz,
                    secrets_encrypted boolean NOT NULL DEFAULT false,
                    allowed_event_types text[] NOT NULL DEFAULT '{}',
                    enabled boolean NOT NULL DEFAULT true,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE webhook_events (
                    id uuid PRIMARY KEY,
                    source_id bigint NOT NULL REFERENCES webhook_sources (id),
                    source_slug text NOT NULL,
                    message_id text NOT NULL,
                    event_type text,
                    status text NOT NULL CHECK (status IN ('accepted', 'ignored')),
                    payload bytea NOT NULL,
                    payload_encrypted boolean NOT NULL DEFAULT false,
                    received_at timestamptz NOT NULL,
                    request_id text,
                    response_status integer NOT NULL,
                    response_body text NOT NULL,
                    UNIQUE (source_id, message_id)
                )
                """,
                "CREATE INDEX webhook_events_received ON webhook_events (received_at)",
                """
                COMMENT ON TABLE webhook_events IS 'Received webhook events, one row per sender message id (de-duplicated). \
                status accepted = for processing, ignored = an event type the source may not send. payload is the raw body \
                (a Fernet token when payload_encrypted). Other systems read this table.'
                """,
                """
                CREATE TABLE webhook_endpoints (
                    id uuid PRIMARY KEY,
                    url text NOT NULL,
                    description text NOT NULL DEFAULT '',
                    event_types text[] NOT NULL,
                    secret text NOT NULL,
                    previous_secret text,
                    previous_secret_until timestamptz,
                    secrets_encrypted boolean NOT NULL DEFAULT false,
                    enabled boolean NOT NULL DEFAULT true,
                    disabled_reason text,
                    disabled_at timestamptz,
                    failing_since timestamptz,
                    failure_streak integer NOT NULL DEFAULT 0,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE webhook_messages (
                    id uuid PRIMARY KEY,
                    event_type text NOT NULL,
                    payload bytea NOT NULL,
                    payload_encrypted boolean NOT NULL DEFAULT false,
                    idempotency_key text UNIQUE,
                    response text NOT NULL,
                    request_id text,
                    created_at timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE webhook_deliveries (
                    id uuid PRIMARY KEY,
                    message_id uuid NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
                    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
                    status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at timestamptz NOT NULL,
                    claim_token uuid,
                    claimed_until timestamptz,
                    last_status_code integer,
                    last_error text,
                    created_at timestamptz NOT NULL,
                    finished_at timestamptz
                )
                """,
                "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
                "CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at)",
                """
                CREATE TABLE webhook_attempts (
                    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
                    attempt integer NOT NULL,
                    started_at timestamptz NOT NULL,
                    duration_ms integer NOT NULL,
                    status_code integer,
                    response_body text,
                    error_kind text,
                    PRIMARY KEY (delivery_id, attempt)
                )
                """,
            ]
        ),
        Migration(
            version: 4,
            name: "alerts",
            statements: [
                """
                CREATE TABLE alerts (
                    id uuid PRIMARY KEY,
                    alert_type text NOT NULL,
                    severity text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
                    subject text NOT NULL,
                    message bytea NOT NULL,
                    message_encrypted boolean NOT NULL DEFAULT false,
                    recipients text[] NOT NULL,
                    links text[] NOT NULL DEFAULT '{}',
                    idempotency_key text UNIQUE,
                    response text,
                    request_id text,
                    created_at timestamptz NOT NULL
                )
                """,
                """
                CREATE TABLE alert_sends (
                    id uuid PRIMARY KEY,
                    alert_id uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
                    channel text NOT NULL CHECK (channel IN ('email', 'slack')),
                    status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at timestamptz NOT NULL,
                    claim_token uuid,
                    claimed_until timestamptz,
                    provider_message_id text,
                    last_error text,
                    created_at timestamptz NOT NULL,
                    finished_at timestamptz
                )
                """,
                "CREATE INDEX alert_sends_due ON alert_sends (next_attempt_at) WHERE status = 'pending'",
                """
                CREATE TABLE alert_send_attempts (
                    send_id uuid NOT NULL REFERENCES alert_sends (id) ON DELETE CASCADE,
                    attempt integer NOT NULL,
                    started_at timestamptz NOT NULL,
                    duration_ms integer NOT NULL,
                    status_code integer,
                    error text,
                    PRIMARY KEY (send_id, attempt)
                )
                """,
            ]
        ),
        Migration(
            version: 5,
            name: "claims per partition",
            statements: [
                // A claim takes the oldest due rows of each endpoint (channel) through these, so one endpoint's
                // backlog neither fills a claim nor hides the others' due work.
                "CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending'",
                "CREATE INDEX alert_sends_channel_due ON alert_sends (channel, next_attempt_at) WHERE status = 'pending'",
            ]
        ),
        Migration(
            version: 6,
            name: "consumers of received events",
            statements: [
                // A consumer is an endpoint bound to one source: it receives that source's accepted events (never
                // published ones), and published events never reach it.
                "ALTER TABLE webhook_endpoints ADD COLUMN source_id bigint REFERENCES webhook_sources (id) ON DELETE CASCADE",
                "ALTER TABLE webhook_endpoints ADD COLUMN id_token_audience text",
                "CREATE INDEX webhook_endpoints_source ON webhook_endpoints (source_id) WHERE source_id IS NOT NULL",
                """
                COMMENT ON COLUMN webhook_endpoints.source_id IS 'Set for a consumer of a source''s received events; NULL for a \
                subscriber of published events'
                """,
                """
                COMMENT ON COLUMN webhook_endpoints.id_token_audience IS 'When set, each request carries a Google-signed ID \
                token for this audience (a private Cloud Run service)'
                """,
                // The message an accepted event became, one at most per event.
                "ALTER TABLE webhook_messages ADD COLUMN source_event_id uuid UNIQUE REFERENCES webhook_events (id) ON DELETE CASCADE",
                "ALTER TABLE webhook_events ADD COLUMN unsigned_headers jsonb",
                """
                COMMENT ON COLUMN webhook_events.unsigned_headers IS 'What the sender claimed in headers no signature covers \
                (X-Event-ID, X-Event-Type): recorded, never used for identity or type'
                """,
            ]
        ),
        Migration(
            version: 7,
            name: "deliveries by message",
            statements: [
                // An event's deliveries are found through its message (events show/list/replay, and the cascade when
                // a message is deleted): without this, each lookup reads the whole deliveries table.
                "CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id)",
            ]
        ),
        Migration(
            version: 8,
            name: "sessions ended by a password change",
            statements: [
                // A password change or deactivation ends every session: our families are revoked, and a token the
                // replaced system issued before this moment (which we have never seen) is refused too.
                "ALTER TABLE users ADD COLUMN sessions_revoked_at timestamptz",
            ]
        ),
        Migration(
            version: 9,
            name: "health data encrypted at rest",
            statements: [
                // In REAL_DATA_MODE an alert's subject, recipients and links are one Fernet token of their JSON here,
                // and the clear columns hold '' and '{}'.
                "ALTER TABLE alerts ADD COLUMN sealed_fields bytea",
                "ALTER TABLE alerts ADD COLUMN fields_encrypted boolean NOT NULL DEFAULT false",
                // A partner's answer, and a provider's error text, may echo what they were sent.
                "ALTER TABLE webhook_attempts ADD COLUMN response_encrypted boolean NOT NULL DEFAULT false",
                "ALTER TABLE alert_sends ADD COLUMN last_error_encrypted boolean NOT NULL DEFAULT false",
                "ALTER TABLE alert_send_attempts ADD COLUMN error_encrypted boolean NOT NULL DEFAULT false",
            ]
        ),
        Migration(
            version: 10,
            name: "refusals counted per minute",
            statements: [
                // Unauthenticated refusals (bad signatures, throttled logins) are one row per minute, source and
                // reason (and one of four shards, so a flood does not queue on one row), with how many there were:
                // anyone can send them, and a row each would let anyone fill the audit trail.
                "ALTER TABLE audit_events ADD COLUMN count integer NOT NULL DEFAULT 1",
                "ALTER TABLE audit_events ADD COLUMN last_at timestamptz",
                "ALTER TABLE audit_events ADD COLUMN bucket text",
                "CREATE UNIQUE INDEX audit_events_bucket ON audit_events (bucket) WHERE bucket IS NOT NULL",
                """
                COMMENT ON COLUMN audit_events.count IS 'How many requests a counted row stands for (1 for what a person did); \
                a counted row has a bucket, at is the start of its minute and last_at the last one counted'
                """,
            ]
        ),
        Migration(
            version: 11,
            name: "retention",
            statements: [
                // `functions maintain` takes the oldest rows first.
                "CREATE INDEX webhook_messages_created ON webhook_messages (created_at)",
                "CREATE INDEX alerts_created ON alerts (created_at)",
                // An alert's sends, found by the purge (and the check that none is pending).
                "CREATE INDEX alert_sends_alert ON alert_sends (alert_id)",
                // An hmac-sha256 source's event outlives its retention as a replay guard: payload and unsigned
                // headers emptied, the row (source, sender's id) kept.
                "ALTER TABLE webhook_events ADD COLUMN purged_at timestamptz",
                """
                COMMENT ON COLUMN webhook_events.purged_at IS 'When retention emptied the payload of an event kept only to refuse \
                a replay of its body (hmac-sha256 sources have no timestamp)'
                """,
            ]
        ),
    ]
}
