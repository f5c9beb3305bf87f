import ArgumentParser
import Domain
import Foundation
import Logging
import Store

/// `functions migrate`: applies pending migrations (safe when several instances start at once).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

    func run() async throws {
        let configuration: AppConfiguration
        do {
            configuration = try AppConfiguration(environment: ProcessInfo.processInfo.environment)
        } catch {
            fail(error.description)
        }
        Server.bootstrapLogging(configuration.runtime)
        let logger = Logger(label: "migrate")
        let database = try Database(configuration: try configuration.requireDatabase(), logger: Logger(label: "postgres"))
        try await Self.running(database) {
            try await Self.apply(database: database, logger: logger)
        }
    }

    /// Applies pending migrations on a pool that is already running.
    static func apply(database: Database, logger: Logger) async throws {
        let applied = try await Migrator(database: database, logger: logger).migrate()
        logger.notice("migrations up to date", metadata: ["version": "\(Migrations.all.last?.version ?? 0)", "migration": "\(applied.count) applied"])
    }

    /// Runs the pool for the duration of `body` (for one-shot commands outside the service group).
    static func running<T: Sendable>(_ database: Database, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await database.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }
}
