public import Logging
public import ServiceLifecycle
import Synchronization
public import Tracing

/// Runs a set of functions as a Cloud Run service: the HTTP server and the application's long-lived
/// services in one `ServiceGroup` that drains on SIGTERM.
public struct FunctionsRuntime: Sendable {
    /// The settings read at start-up.
    public let configuration: RuntimeConfiguration
    /// The invoker every request goes through.
    public let invoker: FunctionInvoker
    private let logger: Logger

    /// Prepares the runtime; an unknown `FUNCTION_TARGET` throws before anything starts.
    public init(
        configuration: RuntimeConfiguration,
        functions: [any HTTPFunction],
        logger: Logger,
        readiness: @escaping FunctionInvoker.ReadinessCheck = { _ in true },
        errorMapper: @escaping FunctionInvoker.ErrorMapper = { _ in nil },
        reporter: (any ErrorReporter)? = nil,
        tracer: (any Tracer)? = nil
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let registry = try FunctionRegistry(functions: functions, target: configuration.functionTarget, signatureType: configuration.signatureType)
        self.invoker = FunctionInvoker(
            registry: registry,
            logger: logger,
            readiness: readiness,
            errorMapper: errorMapper,
            requestTimeout: configuration.requestTimeout,
            reporter: reporter,
            logRequests: configuration.logRequests,
            tracer: tracer
        )
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish within the grace
    /// period, and shuts `services` down after the server (in reverse order, so a database pool closes last).
    /// `beforeServing` runs once the services are up and before the port opens (migrations, for example).
    /// `afterListening` services start only once the port is open: work that start-up does not need, such as
    /// filling a connection pool, then does not compete with it (they shut down after the server too).
    public func run(
        services: [any Service] = [],
        afterListening: [any Service] = [],
        beforeServing: @escaping @Sendable () async throws -> Void = {},
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let logger = self.logger
        let listening = Gate()
        let host = configuration.host
        let server = FunctionServer.make(
            invoker: invoker,
            host: host,
            port: configuration.port,
            maxBodyBytes: configuration.maxBodyBytes,
            trustedProxyHops: configuration.trustedProxyHops,
            logger: logger,
            onListening: { port in
                logger.notice(
                    "listening on \(host):\(port)",
                    metadata: ["port": .stringConvertible(port), "function": .string(configuration.functionTarget ?? "*")]
                )
                await onListening(port)
                listening.open()
            }
        )
        let gated: [any Service] = afterListening.map { GatedService(gate: listening, service: $0) }
        var group = ServiceGroupConfiguration(
            services: (services + gated + [PreludeService(prelude: beforeServing, service: server)]).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        group.maximumGracefulShutdownDuration = configuration.shutdownGrace
        // After the grace period, services are cancelled; ServiceLifecycle ends the process with a crash if that takes
        // longer than this. 2 s keeps grace (8 s by default) plus cancellation inside Cloud Run's 10 s before SIGKILL,
        // while a loaded instance whose database connections are closing still exits cleanly.
        group.maximumCancellationDuration = .seconds(2)
        try await ServiceGroup(configuration: group).run()
        logger.notice("stopped")
    }
}

/// Runs `prelude` and then `service`, so the port opens only after start-up work that needs other services.
struct PreludeService<Wrapped: Service>: Service {
    let prelude: @Sendable () async throws -> Void
    let service: Wrapped

    func run() async throws {
        try await prelude()
        try await service.run()
    }
}

/// Runs `service` once `gate` opens; returns without running it if the group is cancelled or shut down first.
struct GatedService: Service {
    let gate: Gate
    let service: any Service

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await gate.wait()
            } onCancel: {
                gate.open()
            }
        } onGracefulShutdown: {
            gate.open()
        }
        if Task.isCancelled || Task.isShuttingDownGracefully { return }
        try await service.run()
    }
}

/// A one-shot signal: ``wait()`` returns once ``open()`` has been called (at once if it already was).
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.isOpen else { return [] }
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state -> Bool in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }
}
