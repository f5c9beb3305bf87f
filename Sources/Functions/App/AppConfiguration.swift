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
    }

    /// The database settings, or the error that start-up prints when there are none.
    func requireDatabase() throws(ConfigurationError) -> DatabaseConfiguration {
        guard let database else {
            throw ConfigurationError(name: "DATABASE_URL", reason: "is required (or DB_NAME with DB_HOST, DB_USER, DB_PASSWORD)")
        }
        return database
    }
}
