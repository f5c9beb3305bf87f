import Foundation
import Logging
import Store
import Synchronization

/// The database of an admin command run without `DATABASE_URL`: the checkout's local cluster, the one
/// `functions local` serves from (started if it is stopped, created and migrated if it does not exist yet), so
/// the local runner's banner instructions work as pasted. A cluster the command started is stopped again when it
/// ends; one `functions local` is running is left alone. Said on stderr, so output stays clean for scripts.
enum LocalClusterUse {
    private struct State {
        var resolved: DatabaseConfiguration?
        var startedHere: LocalPostgresCluster?
    }

    private static let state = Mutex(State())

    /// The local cluster's `functions` database, migrated.
    static func database() async throws -> DatabaseConfiguration {
        if let resolved = state.withLock({ $0.resolved }) { return resolved }
        let folder = Local.checkoutRoot().appendingPathComponent(".local/postgres")
        let cluster = try LocalPostgresCluster(directory: folder)
        let wasRunning = cluster.runningPort() != nil
        let admin = try cluster.start()
        if !wasRunning { state.withLock { $0.startedHere = cluster } }
        try await Local.createDatabase("functions", admin: admin)
        let configuration = admin.with(database: "functions")
        let database = try Database(configuration: configuration, logger: Logger(label: "local"))
        try await Migrate.running(database) {
            _ = try await Migrator(database: database, logger: Logger(label: "local")).migrate()
        }
        state.withLock { $0.resolved = configuration }
        FileHandle.standardError.write(
            Data("functions: no DATABASE_URL: using the local runner's PostgreSQL in \(folder.path) (127.0.0.1:\(cluster.runningPort() ?? 0))\n".utf8)
        )
        return configuration
    }

    /// Stops the cluster if this command started it (the local runner was not running).
    static func finish() {
        guard let cluster = state.withLock({ state -> LocalPostgresCluster? in
            defer { state.startedHere = nil }
            return state.startedHere
        }) else { return }
        try? cluster.stop()
    }
}
