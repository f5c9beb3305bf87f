import Domain
import Foundation
import Logging
import Outbound
import Runtime
import ServiceLifecycle
import Store
import Tracing

/// Start-up shared by `functions serve` and `functions local`: logging, the pool, the runtime.
enum Server {
    /// Installs the Cloud Logging JSON handler for the whole process.
    static func bootstrapLogging(_ configuration: RuntimeConfiguration, human: Bool = false) {
        let settings = CloudLogHandler.Settings(labels: configuration.labels, project: configuration.project)
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            human ? ConsoleLogHandler(label: label, level: level) as any LogHandler : CloudLogHandler(label: label, level: level, settings: settings)
        }
    }

    /// Builds the runtime for `configuration` over `database` (used by the commands and by tests).
    static func makeRuntime(
        configuration: AppConfiguration,
        database: Database,
        providers: ProviderClient,
        work: PasswordWork = .shared,
        reporter: (any ErrorReporter)? = nil,
        tracer: (any Tracer)? = nil,
        logger: Logger
    ) throws -> FunctionsRuntime {
        try FunctionsRuntime(
            configuration: configuration.runtime,
            functions: try FunctionCatalog.make(database: database, configuration: configuration, providers: providers, work: work),
            logger: logger,
            readiness: { _ in await database.ping(timeout: .seconds(2)) },
            errorMapper: Answers.error(for:),
            reporter: reporter,
            tracer: tracer
        )
    }

    /// Serves until SIGTERM/SIGINT; migrates first when asked.
    static func run(
        configuration: AppConfiguration,
        migrate: Bool,
        schedule: LocalScheduler.Setup? = nil,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        var configuration = configuration
        try await configuration.loadSigningKeys()
        let logger = Logger(label: "functions")
        // Spans for requests, database calls and outgoing HTTP, when OTEL_EXPORTER_OTLP_ENDPOINT asks for them.
        let traces = try TraceExport.make(configuration: configuration.runtime, logger: Logger(label: "otel"))
        let tracer = traces?.tracer
        let databaseConfiguration = try configuration.requireDatabase().serving
        let database = try Database(
            configuration: databaseConfiguration, logger: Logger(label: "postgres"), callTimeout: databaseConfiguration.callTimeout, tracer: tracer
        )
        // Password hashing gets its own small pool, a service like the others so shutdown stops it cleanly.
        let work = PasswordWork(threads: min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 4))
        // One client for every provider (email, Slack, Sentry); listed before Sentry, so it shuts down after it.
        let providers = ProviderClient(tracer: tracer)
        let sentry = configuration.sentry.map {
            SentryReporter(dsn: $0, facts: configuration.sentryFacts, providers: providers, logger: Logger(label: "sentry"))
        }
        let runtime = try makeRuntime(
            configuration: configuration, database: database, providers: providers, work: work, reporter: sentry, tracer: tracer, logger: logger
        )
        if let open = configuration.openPrivateRoutes { throw open }
        // The pool opens its connections (all of DB_POOL_SIZE by default) once the port is open, so start-up does
        // not wait on them; unless migrations must run first, which need it before serving.
        // The span exporter first: services stop in reverse order, so it stops last and sends the final spans.
        var services: [any Service] = (traces.map { [$0.service] } ?? []) + (migrate ? [database.service] : []) + [work, providers]
            + (sentry.map { [$0] } ?? [])
        if let schedule {
            let purge = Purge(policy: configuration.retention, failureWindow: Double(configuration.auth.failureWindow))
            services.append(
                LocalScheduler(
                    jobs: schedule.jobs, tick: schedule.tick, port: schedule.port, database: database, purge: purge,
                    internalToken: configuration.internalToken, say: { say($0) }
                )
            )
        }
        try await runtime.run(
            services: services,
            afterListening: migrate ? [] : [database.service],
            beforeServing: {
                if migrate { try await Migrate.apply(database: database, logger: logger) }
            },
            onListening: onListening
        )
    }
}
