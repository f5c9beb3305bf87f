import Domain
import Runtime

/// Everything the `functions` executable reads from the environment, read once at start-up.
struct AppConfiguration: Sendable {
    /// The runtime's own settings (port, target, log level, limits).
    var runtime: RuntimeConfiguration
    /// Where PostgreSQL is; nil only before the local runner has filled it in.
    var database: DatabaseConfiguration?
    /// `INTERNAL_API_TOKEN`: when set, private functions require `Authorization: Bearer <token>`.
    /// Leave unset on Cloud Run, where IAM (`roles/run.invoker`) guards private services.
    var internalToken: String?
    /// `MIGRATE_ON_START`: apply pending migrations before serving (default false; use `functions migrate`).
    var migrateOnStart: Bool
    /// `SECRET_KEY`: the Django signing key (50+ characters) that signs and checks tokens.
    var secretKey: String?
    /// Token lifetimes, rate limits and hash cost.
    var auth: AuthSettings

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
        auth.failureWindow = Int64(try reader.integer("LOGIN_FAILURE_WINDOW_SECONDS", default: 900, range: 1...86_400))
        auth.hashIterations = try reader.integer("PASSWORD_HASH_ITERATIONS", default: 1_200_000, range: 1...50_000_000)
        self.auth = auth
    }

    /// The signing key, or the error that start-up prints when it is missing.
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
