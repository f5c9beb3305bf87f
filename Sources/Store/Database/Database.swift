import Logging
import NIOCore
import PostgresNIO
import Primitives
import ServiceLifecycle
public import Tracing
import Traces

/// The process's PostgreSQL pool, with the failure modes callers care about made explicit.
///
/// Leasing a connection waits at most `acquireTimeout`: while PostgreSQL is down a request gets
/// ``StoreError/unavailable`` (a 503) quickly instead of hanging, and the pool reconnects by itself when the
/// server returns. Errors that mean "the server is gone" become ``StoreError/unavailable`` too.
public struct Database: Sendable {
    /// The connections; run the pool as a service (``service``).
    public let pool: PostgresPool
    /// How long a caller waits for a connection before it is told the store is unavailable.
    public let acquireTimeout: Duration
    /// How long a whole call may take before its caller is told the store is unavailable (nil: no bound).
    public let callTimeout: Duration?
    private let logger: Logger
    /// Makes a client span per call (nil: tracing off).
    private let tracer: (any Tracer)?
    /// What every span says of the server: the database's name and where it is (never a user or a password).
    private let serverAttributes: SpanAttributes

    /// Creates the pool; nothing connects until ``service`` runs, which opens the configuration's minimum number
    /// of connections (a serving instance's whole pool by default) and the rest as queries ask. `callTimeout` bounds whole
    /// calls (the server passes `DB_CALL_TIMEOUT_MS`; commands such as `migrate` leave long statements unbounded).
    public init(
        configuration: DatabaseConfiguration, logger: Logger, acquireTimeout: Duration? = nil, callTimeout: Duration? = nil,
        tracer: (any Tracer)? = nil
    ) throws {
        let connection = try configuration.connectionConfiguration()
        self.pool = PostgresPool(limits: configuration.poolLimits, logger: logger) { id, logger in
            try await PostgresConnection.connect(configuration: connection, id: id, logger: logger)
        }
        self.acquireTimeout = acquireTimeout ?? configuration.acquireTimeout
        self.callTimeout = callTimeout
        self.logger = logger
        self.tracer = tracer
        var attributes = SpanAttributes()
        attributes["db.system.name"] = "postgresql"
        attributes["db.namespace"] = configuration.database
        switch configuration.endpoint {
        case .tcp(let host, let port):
            attributes["server.address"] = host
            attributes["server.port"] = Int64(port)
        case .unixSocket(let directory, let port):
            attributes["server.address"] = directory
            attributes["server.port"] = Int64(port)
        }
        self.serverAttributes = attributes
    }

    /// The long-lived service that owns the pool's connections. Add it to the service group before the server.
    public var service: some Service { pool }

    /// Runs the pool until cancelled (for one-off commands and tests outside a service group).
    public func run() async { await pool.run() }

    /// Runs `body` on one leased connection. With tracing on, the call is a span named for its caller
    /// (`function`, `fileID` and `line` are filled in by the compiler).
    public func withConnection<Result: Sendable>(
        function: String = #function, fileID: String = #fileID, line: UInt = #line,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let pool = self.pool
        return try await traced(function: function, fileID: fileID, line: line, transaction: false) { span in
            try await guarded { lease in
                try await Self.onOpenConnection(of: pool, lease: lease, span: span, body)
            }
        }
    }

    /// Runs `body` inside a transaction: committed when it returns, rolled back when it throws. Traced as
    /// ``withConnection(function:fileID:line:_:)`` is.
    public func withTransaction<Result: Sendable>(
        function: String = #function, fileID: String = #fileID, line: UInt = #line,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let pool = self.pool
        let logger = self.logger
        return try await traced(function: function, fileID: fileID, line: line, transaction: true) { span in
            try await guarded { lease in
                try await Self.onOpenConnection(of: pool, lease: lease, span: span) { connection in
                    try await connection.withTransaction(logger: logger) { try await body($0) }
                }
            }
        }
    }

    /// Runs `call` in a client span named for the code that made it (`AuthService.login` for a call made in
    /// `login(…)` of `AuthService.swift`), with the server's facts and the caller's place; no statement, no values.
    /// Only within a request's trace: start-up, readiness pings and commands make none.
    private func traced<Result>(
        function: String, fileID: String, line: UInt, transaction: Bool, _ call: ((any Span)?) async throws -> Result
    ) async throws -> Result {
        guard let tracer else { return try await call(nil) }
        let file = fileID.split(separator: "/").last.map { $0.prefix { $0 != "." && $0 != "+" } } ?? ""
        let name = "\(file).\(function.prefix { $0 != "(" })"
        return try await Spans.run(tracer, name, kind: .client, withinTrace: true) { span in
            if let span {
                var attributes = serverAttributes
                attributes["db.operation.name"] = transaction ? "TRANSACTION" : "CALL"
                attributes["code.function.name"] = function
                attributes["code.file.path"] = fileID
                attributes["code.line.number"] = Int64(line)
                span.attributes.merge(attributes)
            }
            return try await call(span)
        }
    }

    /// Leases a connection that is still open and runs `body` on it. A connection can close between the pool's
    /// check and the lease (PostgreSQL went away): such a connection is given back, which drops it, and another
    /// asked for, until the acquire deadline cancels the wait.
    private static func onOpenConnection<Result: Sendable>(
        of pool: PostgresPool, lease: CallLease<Result>, span: (any Span)? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        while true {
            do {
                return try await pool.withConnection { connection in
                    guard !connection.isClosed else { throw ClosedConnection() }
                    try lease.set(connection)
                    // How long the call waited for a connection shows as the time to this event.
                    span?.addEvent("connection leased")
                    return try await body(connection)
                }
            } catch is ClosedConnection {
                try await Task.sleep(for: .milliseconds(1))
            }
        }
    }

    /// True when `SELECT 1` answers within `timeout` (waiting for a connection included).
    public func ping(timeout: Duration = .seconds(2)) async -> Bool {
        let pool = self.pool
        let logger = self.logger
        do {
            return try await traced(function: #function, fileID: #fileID, line: #line, transaction: false) { span in
                try await guarded(acquireTimeout: timeout, callTimeout: timeout) { lease in
                    try await Self.onOpenConnection(of: pool, lease: lease, span: span) { connection in
                        try await connection.query("SELECT 1", logger: logger)
                        return true
                    }
                }
            }
        } catch {
            return false
        }
    }

    /// Leases with a bounded wait and maps "server gone" errors to ``StoreError/unavailable``.
    private func guarded<Result: Sendable>(
        _ operation: @escaping @Sendable (CallLease<Result>) async throws -> Result
    ) async throws -> Result {
        try await guarded(acquireTimeout: acquireTimeout, callTimeout: callTimeout, operation)
    }

    /// Runs `operation` in a task of its own and answers from whichever ends first: the operation, or a deadline.
    ///
    /// When no connection was leased by `acquireTimeout`, the caller gets ``StoreError/unavailable`` and the
    /// operation is cancelled, whose wait in the pool's line ends at once (should the pool still hand it a
    /// connection, the work does not run). Once leased, the work is not cut off unless
    /// it outlives `callTimeout`: then its connection is closed and the caller gets ``StoreError/unavailable``
    /// without waiting for the operation, which may never end (``CallLease``). The pool opens a new connection in its
    /// place. A cancelled caller cancels the operation and waits for it (or for a deadline).
    private func guarded<Result: Sendable>(
        acquireTimeout: Duration, callTimeout: Duration?, _ operation: @escaping @Sendable (CallLease<Result>) async throws -> Result
    ) async throws -> Result {
        let lease = CallLease<Result>()
        let logger = self.logger
        let started = NIODeadline.now()
        let call = Task {
            do {
                lease.answer(.success(try await operation(lease)))
            } catch {
                lease.answer(.failure(error))
            }
        }
        let loop = PostgresConnection.defaultEventLoopGroup.any()
        let acquireDeadline = loop.scheduleTask(deadline: started + .nanoseconds(acquireTimeout.wholeNanoseconds)) {
            guard lease.expireUnlessLeased() == nil else { return }
            logger.warning("database unavailable", metadata: ["error_type": "acquire_timeout"])
            lease.answer(.failure(StoreError.unavailable))
            call.cancel()
        }
        let callDeadline = callTimeout.flatMap { callTimeout -> Scheduled<Void>? in
            guard callTimeout > acquireTimeout else { return nil }
            return loop.scheduleTask(deadline: started + .nanoseconds(callTimeout.wholeNanoseconds)) {
                guard let connection = lease.leasedAndUnanswered else { return }
                logger.error(
                    "database call still running after DB_CALL_TIMEOUT_MS; its connection is closed and the call answered 503",
                    metadata: ["error_type": "call_timeout"]
                )
                lease.answer(.failure(StoreError.unavailable))
                connection.close().whenComplete { _ in }
                call.cancel()
            }
        }
        defer {
            acquireDeadline.cancel()
            callDeadline?.cancel()
        }
        do {
            return try await withTaskCancellationHandler {
                try await lease.value()
            } onCancel: {
                call.cancel()
            }
        } catch let error as PSQLError {
            throw Self.translate(error, logger: logger)
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError {
                throw (inner as? PSQLError).map { Self.translate($0, logger: logger) } ?? inner
            }
            if let failed = (error.beginError ?? error.commitError) as? PSQLError { throw Self.translate(failed, logger: logger) }
            throw StoreError.unavailable
        }
    }

    /// "Server gone" becomes ``StoreError/unavailable``; any other failure keeps only what is safe to log.
    static func translate(_ error: PSQLError, logger: Logger) -> StoreError {
        if meansUnavailable(error) {
            logger.warning("database unavailable", metadata: ["error_type": "\(error.code)"])
            return .unavailable
        }
        let info = error.serverInfo
        let objects = [(info?[.tableName]).map { "table=\($0)" }, (info?[.constraintName]).map { "constraint=\($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        return .queryFailed(sqlState: info?[.sqlState] ?? "\(error.code)", objects: objects)
    }

    /// Connection-level failures and the server's "shutting down / cannot connect now" classes.
    static func meansUnavailable(_ error: PSQLError) -> Bool {
        switch error.code {
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return false }
            return state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300"
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown,
            .queryCancelled, .failedToAddSSLHandler, .sslUnsupported:
            return true
        default:
            return false
        }
    }
}

/// A leased connection that had already closed.
private struct ClosedConnection: Error {}
