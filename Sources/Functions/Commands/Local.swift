import ArgumentParser
import Domain
import Foundation
import Logging
import PostgresNIO
import Store
import Synchronization

/// `functions local`: every function on 127.0.0.1, against `DATABASE_URL` or a private cluster in the checkout.
struct Local: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every function locally (starts a private PostgreSQL when DATABASE_URL is unset)."
    )

    @Option(help: "Port to listen on.")
    var port: Int = 8080

    @Option(help: "Folder for the private PostgreSQL cluster (default: .local/postgres in the checkout).")
    var dataDirectory: String?

    @Option(help: "Run every schedule of functions.yaml (the drains, the retention purge) every this many seconds instead of on its cron.")
    var tickSeconds: Int?

    @Option(help: "The deployment description whose schedules the runner plays (default: functions.yaml in the checkout).")
    var file: String?

    @Option(help: "human (a short line per request and event) or json (Cloud Logging's lines); human on a terminal.")
    var logFormat: String?

    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["PORT"] = String(port)
        environment["HOST"] = "127.0.0.1"
        environment["FUNCTION_TARGET"] = nil
        // Every function is served, each taking what it can.
        environment["FUNCTION_SIGNATURE_TYPE"] = nil
        // Nothing stands in front of the local runner: the peer is the client, and X-Forwarded-For is the
        // client's own text (the login limits would otherwise trust it).
        if environment["TRUSTED_PROXY_HOPS", default: ""].isEmpty { environment["TRUSTED_PROXY_HOPS"] = "0" }
        var configuration: AppConfiguration
        do {
            configuration = try AppConfiguration(environment: environment)
        } catch {
            fail(error.description)
        }
        let human: Bool
        switch logFormat {
        case nil: human = isatty(STDOUT_FILENO) == 1
        case "human": human = true
        case "json": human = false
        default: fail("--log-format must be human or json")
        }
        configuration.runtime.logRequests = true
        Server.bootstrapLogging(configuration.runtime, human: human)
        if environment["GCE_METADATA_HOST", default: ""].isEmpty {
            // No metadata server on a laptop: consumers that want a Google ID token are called without one.
            configuration.webhooks.metadataHost = nil
        }
        if configuration.secretKey == nil {
            do {
                configuration.secretKey = try Self.developmentSecretKey(in: Self.checkoutRoot().appendingPathComponent(".local"))
            } catch {
                fail("could not create a development SECRET_KEY: \(error)")
            }
        }
        var cluster: LocalPostgresCluster?
        if configuration.database == nil {
            let folder = dataDirectory.map { URL(fileURLWithPath: $0) } ?? Self.checkoutRoot().appendingPathComponent(".local/postgres")
            do {
                let local = try LocalPostgresCluster(directory: folder)
                let admin = try local.start()
                cluster = local
                try await Self.createDatabase("functions", admin: admin)
                configuration.database = admin.with(database: "functions")
                say("PostgreSQL: private cluster in \(folder.path) on 127.0.0.1:\(admin.port) (database functions)")
            } catch {
                fail("could not start the local PostgreSQL cluster: \(error)")
            }
        }
        let port = self.port
        let specFile = file.map { URL(fileURLWithPath: $0) } ?? Self.checkoutRoot().appendingPathComponent("functions.yaml")
        var jobs: [LocalScheduler.Job] = []
        do {
            jobs = LocalScheduler.jobs(from: try DeploymentSpec.load(specFile))
        } catch {
            say("No schedules: \(specFile.path) could not be read (\(error)); nothing calls the drains.")
        }
        let listening = LocalPort()
        let schedule = LocalScheduler.Setup(jobs: jobs, tick: tickSeconds.map { .seconds(max($0, 1)) }, port: listening)
        do {
            try await Server.run(configuration: configuration, migrate: true, schedule: schedule) { bound in
                let actual = bound == 0 ? port : bound
                listening.value.withLock { $0 = actual }
                Self.printBanner(port: actual, jobs: schedule.jobs.count, tick: schedule.tick)
            }
        } catch {
            try? cluster?.stop()
            fail("\(error)")
        }
        if let cluster {
            try? cluster.stop()
            say("PostgreSQL stopped; its data stays in \(cluster.directory.path)")
        }
    }

    static func printBanner(port: Int, jobs: Int = 0, tick: Duration? = nil) {
        var lines = ["", "Functions are up on http://127.0.0.1:\(port):"]
        for name in FunctionCatalog.names { lines.append("  http://127.0.0.1:\(port)/\(name)/") }
        lines.append("  http://127.0.0.1:\(port)/health   http://127.0.0.1:\(port)/ready")
        if jobs > 0 {
            lines.append("Scheduler: \(jobs) schedules from functions.yaml, " + (tick.map { "every \($0.components.seconds) s" } ?? "on their cron (UTC)"))
        }
        lines.append("Make a first user: swift run functions users create --username admin   (password from the prompt)")
        lines.append("Admin commands (users, sources, endpoints, deliveries, events) use this runner's PostgreSQL when DATABASE_URL is unset.")
        lines.append("Stop with Ctrl-C.")
        say(lines.joined(separator: "\n"))
    }

    /// A random key kept in `.local/secret_key` (mode 0600), so tokens survive a restart of the local runner.
    static func developmentSecretKey(in folder: URL) throws -> String {
        let file = folder.appendingPathComponent("secret_key")
        if let existing = try? String(contentsOf: file, encoding: .utf8), existing.count >= 50 {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let key = String((0..<64).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
        FileManager.default.createFile(atPath: file.path, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600])
        return key
    }

    /// The nearest folder upwards holding `Package.swift`, else the working directory.
    static func checkoutRoot() -> URL {
        var folder = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder }
            folder.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// Creates `name` on the cluster unless it exists.
    static func createDatabase(_ name: String, admin: DatabaseConfiguration) async throws {
        let logger = Logger(label: "local")
        let database = try Database(configuration: admin, logger: logger)
        try await Migrate.running(database) {
            try await database.withConnection { connection in
                let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger)
                for try await _ in rows { return }
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
            }
        }
    }
}
