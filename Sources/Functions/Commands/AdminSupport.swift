import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO
import Store

/// Parses comma-separated event-type filters, refusing malformed ones.
func eventTypes(_ text: String) throws -> [String] {
    let filters = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    for filter in filters where !EventTypeFilter.isValid(filter) { fail("invalid event type filter: \(filter)") }
    return filters
}

/// Enables or disables an endpoint, audited.
func setEndpoint(_ id: String, enabled: Bool, reason: String?) async throws {
    guard let uuid = UUID(uuidString: id) else { fail("--id must be an endpoint id") }
    let done = try await withAdminDatabase { database, configuration, logger in
        try await database.withTransaction { connection in
            let done = try await WebhookEndpointStore(encryption: configuration.encryption)
                .setEnabled(id: uuid, enabled, reason: reason, now: Date(), on: connection, logger: logger)
            if done {
                try await audit(enabled ? "webhook_endpoint_enable" : "webhook_endpoint_disable", detail: ["endpoint": id.lowercased()], on: connection, logger: logger)
            }
            return done
        }
    }
    guard done else { fail("no such endpoint") }
    say("endpoint \(id.lowercased()) \(enabled ? "enabled" : "disabled")")
}

/// Records an admin action in the audit trail with the operator as actor.
func audit(_ action: String, detail: [String: String], on connection: PostgresConnection, logger: Logger) async throws {
    let actor = ProcessInfo.processInfo.environment["USER"] ?? "cli"
    try await AuditLog.record(AuditEvent(action: action, outcome: "success", actor: actor, detail: detail), at: Date(), on: connection, logger: logger)
}

/// The configuration for admin commands, or one line and exit. Without `DATABASE_URL` (or `DB_*`), the
/// checkout's local cluster, the one `functions local` uses (``LocalClusterUse``).
func loadConfiguration() async throws -> AppConfiguration {
    var configuration: AppConfiguration
    do {
        configuration = try AppConfiguration(environment: ProcessInfo.processInfo.environment)
    } catch {
        fail(error.description)
    }
    if configuration.database == nil {
        do {
            configuration.database = try await LocalClusterUse.database()
        } catch {
            fail("no DATABASE_URL, and the local PostgreSQL could not be started: \(error)")
        }
    }
    return configuration
}

/// Runs `body` against the configured database with its pool running.
func withAdminDatabase<T: Sendable>(_ body: @escaping @Sendable (Database, AppConfiguration, Logger) async throws -> T) async throws -> T {
    let configuration = try await loadConfiguration()
    let logger = {
        var logger = Logger(label: "admin")
        logger.logLevel = .error
        return logger
    }()
    // A command's pool starts empty, so its first call waits for a new connection: DB_ACQUIRE_TIMEOUT_MS is a
    // serving instance's fail-fast bound (a 503 beats a hung request), too short for that on a loaded or distant
    // database. An operator waits up to 10 s before being told the database is unavailable.
    let settings = try configuration.requireDatabase()
    let database = try Database(configuration: settings, logger: logger, acquireTimeout: max(settings.acquireTimeout, .seconds(10)))
    do {
        return try await Migrate.running(database) { try await body(database, configuration, logger) }
    } catch StoreError.unavailable {
        fail("the database is unavailable")
    }
}
