import Domain
import Foundation
import Primitives
import Outbound
import Runtime
import Store

/// Everything the `functions` executable reads from the environment, read once at start-up.
struct AppConfiguration: Sendable {
    /// The runtime's own settings (port, target, log level, limits).
    var runtime: RuntimeConfiguration
    /// Where PostgreSQL is; nil only before the local runner has filled it in.
    var database: DatabaseConfiguration?
    /// `INTERNAL_API_TOKEN`: when set, private functions require `Authorization: Bearer <token>`.
    /// Leave unset on Cloud Run, where IAM (`roles/run.invoker`) guards private services.
    var internalToken: String?
    /// `ALLOW_OPEN_PRIVATE_ROUTES`: serve the private functions unguarded on a non-loopback address (see
    /// ``openPrivateRoutes``).
    var allowOpenPrivateRoutes: Bool
    /// `MIGRATE_ON_START`: apply pending migrations before serving (default false; use `functions migrate`).
    var migrateOnStart: Bool
    /// `SECRET_KEY`: the Django signing key (50+ characters) that signs and checks tokens.
    var secretKey: String?
    /// Token lifetimes, rate limits and hash cost.
    var auth: AuthSettings
    /// `JWT_SIGNING_ALGORITHM=ES256`: the key pair's PEMs (`JWT_ES256_PRIVATE_KEY`, `JWT_ES256_RETIRED_PUBLIC_KEYS`),
    /// checked at start-up and loaded by ``loadSigningKeys()``; nil signs HS256 with `SECRET_KEY` (simplejwt).
    var es256PEM: (privateKey: String, retired: String?)?
    /// `JWT_ACCEPT_HS256_UNTIL` (RFC 3339): with ES256 signing, HS256 tokens are accepted until then; unset, always.
    var acceptHS256Until: Int64?
    /// The ES256 keys, once loaded.
    var es256Keys: ES256Keys?
    /// `FIELD_ENCRYPTION_KEY` / `REAL_DATA_MODE`: how secrets and payloads are stored.
    var encryption: FieldEncryption
    /// Retry schedule, timeouts, budgets, SSRF switch.
    var webhooks: WebhookSettings
    /// How long records are kept (`functions maintain`).
    var retention: RetentionPolicy
    /// Email backend, Slack, PDF, alert retries.
    var alerts: AlertSettings
    /// `SENTRY_DSN`: unexpected errors go to Sentry when set.
    var sentry: SentryReporter.DSN?
    /// `SENTRY_RELEASE`, `ENVIRONMENT`, `K_SERVICE`, `K_REVISION` for Sentry events.
    var sentryFacts: SentryReporter.Facts

    /// Reads and validates the environment; the error names the one setting at fault.
    init(environment: [String: String]) throws(ConfigurationError) {
        let reader = EnvironmentReader(environment)
        self.runtime = try RuntimeConfiguration(environment: environment)
        do {
            self.database = try DatabaseConfiguration(environment: environment)
        } catch {
            throw ConfigurationError(name: "DATABASE_URL", reason: "is invalid: \(error.description)")
        }
        self.internalToken = reader.string("INTERNAL_API_TOKEN")
        if let token = internalToken, token.utf8.count < 32 {
            throw ConfigurationError(name: "INTERNAL_API_TOKEN", reason: "must be at least 32 characters")
        }
        self.allowOpenPrivateRoutes = try reader.bool("ALLOW_OPEN_PRIVATE_ROUTES", default: false)
        self.migrateOnStart = try reader.bool("MIGRATE_ON_START", default: false)
        self.secretKey = reader.string("SECRET_KEY")
        if let key = secretKey, key.count < 50 {
            throw ConfigurationError(name: "SECRET_KEY", reason: "must be at least 50 characters")
        }
        var auth = AuthSettings()
        auth.accessLifetime = Int64(try reader.integer("ACCESS_TOKEN_LIFETIME_SECONDS", default: 1800, range: 60...86_400))
        auth.refreshLifetime = Int64(try reader.integer("REFRESH_TOKEN_LIFETIME_SECONDS", default: 86_400, range: 300...(90 * 86_400)))
        auth.familyLifetime = Int64(try reader.integer("REFRESH_FAMILY_LIFETIME_SECONDS", default: 30 * 86_400, range: 300...(365 * 86_400)))
        auth.maxFailures = try reader.integer("LOGIN_MAX_FAILURES", default: 5, range: 1...1000)
        auth.maxFailuresPerAddress = try reader.integer("LOGIN_MAX_FAILURES_PER_ADDRESS", default: 50, range: 1...100_000)
        auth.maxFailuresPerUsername = try reader.integer("LOGIN_MAX_FAILURES_PER_USERNAME", default: 100, range: 1...100_000)
        auth.failureWindow = Int64(try reader.integer("LOGIN_FAILURE_WINDOW_SECONDS", default: 900, range: 1...86_400))
        auth.hashIterations = try reader.integer("PASSWORD_HASH_ITERATIONS", default: 1_200_000, range: 1...50_000_000)
        auth.maxBodyBytes = try reader.integer("AUTH_MAX_BODY_BYTES", default: 8 * 1024, range: 1024...(1024 * 1024))
        self.auth = auth
        switch reader.string("JWT_SIGNING_ALGORITHM")?.uppercased() ?? "HS256" {
        case "HS256":
            self.es256PEM = nil
        case "ES256":
            let pem = try reader.required("JWT_ES256_PRIVATE_KEY")
            guard (try? ES256PrivateKeyCheck.isValid(pem)) == true else {
                throw ConfigurationError(name: "JWT_ES256_PRIVATE_KEY", reason: "must be a PEM EC P-256 private key")
            }
            self.es256PEM = (pem, reader.string("JWT_ES256_RETIRED_PUBLIC_KEYS"))
        default:
            throw ConfigurationError(name: "JWT_SIGNING_ALGORITHM", reason: "must be HS256 or ES256")
        }
        if let until = reader.string("JWT_ACCEPT_HS256_UNTIL") {
            guard let date = try? Date(until, strategy: .iso8601) else {
                throw ConfigurationError(name: "JWT_ACCEPT_HS256_UNTIL", reason: "must be an RFC 3339 time such as 2027-01-31T00:00:00Z")
            }
            self.acceptHS256Until = Int64(date.timeIntervalSince1970)
        } else {
            self.acceptHS256Until = nil
        }
        let realDataMode = try reader.bool("REAL_DATA_MODE", default: false)
        // FIELD_ENCRYPTION_KEYS: comma-separated, newest first (the first encrypts, all decrypt, as MultiFernet);
        // FIELD_ENCRYPTION_KEY: one key. Both at once would leave which one encrypts to guesswork.
        let single = reader.string("FIELD_ENCRYPTION_KEY")
        let list = reader.string("FIELD_ENCRYPTION_KEYS").map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if single != nil, list != nil {
            throw ConfigurationError(name: "FIELD_ENCRYPTION_KEYS", reason: "and FIELD_ENCRYPTION_KEY are both set; set one (the list, newest first)")
        }
        let name = list == nil ? "FIELD_ENCRYPTION_KEY" : "FIELD_ENCRYPTION_KEYS"
        let keys = list ?? single.map { [$0] } ?? []
        do {
            self.encryption = try FieldEncryption(keys: keys, realDataMode: realDataMode)
        } catch {
            throw ConfigurationError(
                name: name,
                reason: realDataMode && keys.isEmpty
                    ? "is required when REAL_DATA_MODE=true"
                    : list == nil ? "must be a Fernet key (32 bytes, URL-safe base64)" : "must be Fernet keys (32 bytes, URL-safe base64), comma-separated, newest first"
            )
        }
        var webhooks = WebhookSettings()
        if let text = reader.string("WEBHOOK_RETRY_SCHEDULE") {
            guard let schedule = RetrySchedule(parsing: text) else {
                throw ConfigurationError(name: "WEBHOOK_RETRY_SCHEDULE", reason: "must be comma-separated seconds, for example 0,5,300")
            }
            webhooks.schedule = schedule
        }
        webhooks.timeout = .seconds(try reader.integer("WEBHOOK_TIMEOUT_SECONDS", default: 30, range: 1...300))
        webhooks.lease = webhooks.timeout * 2 + .seconds(5)
        webhooks.drainBudget = .seconds(try reader.integer("WEBHOOK_DRAIN_BUDGET_SECONDS", default: 50, range: 1...3600))
        webhooks.concurrency = try reader.integer("WEBHOOK_DRAIN_CONCURRENCY", default: 64, range: 1...1000)
        webhooks.disableAfter = Double(try reader.integer("WEBHOOK_DISABLE_AFTER_SECONDS", default: 5 * 86_400, range: 60...(365 * 86_400)))
        webhooks.allowPrivateTargets = try reader.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default: false)
        webhooks.requireHTTPS = try reader.bool("WEBHOOK_REQUIRE_HTTPS", default: !webhooks.allowPrivateTargets)
        webhooks.metadataHost = reader.string("GCE_METADATA_HOST") ?? "metadata.google.internal"
        webhooks.immediateBudget = .milliseconds(try reader.integer("WEBHOOK_IMMEDIATE_BUDGET_MS", default: 2000, range: 0...10_000))
        webhooks.maxReceiveBytes = try reader.integer("WEBHOOK_MAX_BODY_BYTES", default: 1024 * 1024, range: 1024...(32 * 1024 * 1024))
        webhooks.maxPublishBytes = try reader.integer("WEBHOOK_MAX_PUBLISH_BYTES", default: 2 * 1024 * 1024, range: 1024...(32 * 1024 * 1024))
        self.webhooks = webhooks
        var retention = RetentionPolicy()
        retention.audit = Double(try reader.integer("RETENTION_AUDIT_DAYS", default: 2557, range: 1...36_500)) * 86_400
        retention.webhooks = Double(try reader.integer("RETENTION_WEBHOOK_DAYS", default: 30, range: 1...3650)) * 86_400
        retention.alerts = Double(try reader.integer("RETENTION_ALERT_DAYS", default: 90, range: 1...3650)) * 86_400
        self.retention = retention
        var alerts = AlertSettings()
        if let backend = reader.string("EMAIL_BACKEND") {
            guard let parsed = AlertSettings.EmailBackend(setting: backend) else {
                throw ConfigurationError(name: "EMAIL_BACKEND", reason: "must be console, mailgun or sendgrid")
            }
            alerts.backend = parsed
        }
        if alerts.backend == .console, realDataMode {
            // The console backend prints whole emails to stdout, which Cloud Logging keeps: never with real data.
            throw ConfigurationError(name: "EMAIL_BACKEND", reason: "must be mailgun or sendgrid when REAL_DATA_MODE=true")
        }
        alerts.from = reader.string("DEFAULT_FROM_EMAIL") ?? alerts.from
        alerts.maxBodyBytes = try reader.integer("ALERT_MAX_BODY_BYTES", default: 512 * 1024, range: 1024...(32 * 1024 * 1024))
        alerts.defaultRecipients = (reader.string("ALERT_RECIPIENTS") ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for recipient in alerts.defaultRecipients where !EmailAddress.isValid(recipient) {
            throw ConfigurationError(name: "ALERT_RECIPIENTS", reason: "must be comma-separated email addresses")
        }
        alerts.portalBaseURL = reader.string("PORTAL_BASE_URL") ?? alerts.portalBaseURL
        alerts.mailgunAPIKey = reader.string("MAILGUN_API_KEY")
        alerts.mailgunDomain = reader.string("MAILGUN_DOMAIN")
        alerts.mailgunBaseURL = reader.string("MAILGUN_BASE_URL") ?? alerts.mailgunBaseURL
        alerts.sendgridAPIKey = reader.string("SENDGRID_API_KEY")
        alerts.sendgridBaseURL = reader.string("SENDGRID_BASE_URL") ?? alerts.sendgridBaseURL
        if alerts.backend == .mailgun, alerts.mailgunAPIKey == nil || alerts.mailgunDomain == nil {
            throw ConfigurationError(name: "MAILGUN_API_KEY", reason: "and MAILGUN_DOMAIN are required with EMAIL_BACKEND=mailgun")
        }
        if alerts.backend == .sendgrid, alerts.sendgridAPIKey == nil {
            throw ConfigurationError(name: "SENDGRID_API_KEY", reason: "is required with EMAIL_BACKEND=sendgrid")
        }
        if try reader.bool("SLACK_ENABLED", default: false) {
            guard let url = reader.string("SLACK_WEBHOOK_URL") else {
                throw ConfigurationError(name: "SLACK_WEBHOOK_URL", reason: "is required when SLACK_ENABLED=true")
            }
            alerts.slackWebhookURL = url
        }
        alerts.attachPDF = try reader.bool("ALERT_ATTACH_PDF", default: false)
        if let text = reader.string("ALERT_RETRY_SCHEDULE") {
            guard let schedule = RetrySchedule(parsing: text) else {
                throw ConfigurationError(name: "ALERT_RETRY_SCHEDULE", reason: "must be comma-separated seconds")
            }
            alerts.schedule = schedule
        }
        alerts.timeout = .seconds(try reader.integer("ALERT_TIMEOUT_SECONDS", default: 20, range: 1...120))
        alerts.lease = alerts.timeout * 3
        alerts.firstAttemptBudget = .milliseconds(try reader.integer("ALERT_FIRST_ATTEMPT_BUDGET_MS", default: 5000, range: 0...10_000))
        self.alerts = alerts
        if let dsn = reader.string("SENTRY_DSN") {
            guard let parsed = SentryReporter.DSN(dsn) else {
                throw ConfigurationError(name: "SENTRY_DSN", reason: "must look like https://KEY@HOST/PROJECT")
            }
            self.sentry = parsed
        }
        self.sentryFacts = SentryReporter.Facts(
            release: reader.string("SENTRY_RELEASE"), environment: reader.string("ENVIRONMENT"),
            service: reader.string("K_SERVICE"), revision: reader.string("K_REVISION")
        )
    }

    /// The signing key, or the error that start-up prints when it is missing.
    /// Loads the ES256 keys when tokens are signed with a key pair (the retired keys are checked here).
    mutating func loadSigningKeys() async throws(ConfigurationError) {
        guard let pem = es256PEM, es256Keys == nil else { return }
        do {
            es256Keys = try await ES256Keys.load(privateKeyPEM: pem.privateKey, retiredPublicKeysPEM: pem.retired)
        } catch let error as ES256Keys.InvalidKey {
            throw ConfigurationError(name: error.isRetiredKey ? "JWT_ES256_RETIRED_PUBLIC_KEYS" : "JWT_ES256_PRIVATE_KEY", reason: error.description)
        } catch {
            throw ConfigurationError(name: "JWT_ES256_PRIVATE_KEY", reason: "could not be loaded")
        }
    }

    func requireSecretKey() throws(ConfigurationError) -> String {
        guard let secretKey else { throw ConfigurationError(name: "SECRET_KEY", reason: "is required (50+ characters)") }
        return secretKey
    }

    /// The database settings, or the error that start-up prints when there are none.
    func requireDatabase() throws(ConfigurationError) -> DatabaseConfiguration {
        guard let database else {
            throw ConfigurationError(name: "DATABASE_URL", reason: "is required (or DB_NAME with DB_HOST, DB_USER, DB_PASSWORD)")
        }
        return database
    }
}

extension AppConfiguration {
    /// Whether `serve` would answer the private functions to anyone: every function is served (no
    /// `FUNCTION_TARGET`, so no Cloud Run service of a private function whose IAM guards it), no
    /// `INTERNAL_API_TOKEN` guards them, and the address is reachable from other hosts. `serve` refuses to start
    /// so unless `ALLOW_OPEN_PRIVATE_ROUTES=true` says it is meant.
    var openPrivateRoutes: ConfigurationError? {
        guard runtime.functionTarget == nil, internalToken == nil, !allowOpenPrivateRoutes else { return nil }
        let host = runtime.host
        if host == "localhost" { return nil }
        if let address = IPAddress(host), address.isLoopback { return nil }
        return ConfigurationError(
            name: "ALLOW_OPEN_PRIVATE_ROUTES",
            reason: "is not true, and serving every function on \(host) without INTERNAL_API_TOKEN would let anyone call the private ones "
                + "(webhook-dispatch, send-alert, metrics): set FUNCTION_TARGET, INTERNAL_API_TOKEN, HOST=127.0.0.1, or ALLOW_OPEN_PRIVATE_ROUTES=true"
        )
    }
}
