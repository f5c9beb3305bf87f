import Foundation
import HTTPTypes
import Primitives
public import Logging
public import Tracing
import Traces

/// The one path every invocation takes, from the server, the local runner and the tests alike.
///
/// It resolves the request id and trace, answers the runtime's own routes (`/health`, `/ready`, the two
/// reserved 404s), routes to the function, and maps every error to a response in one place.
public struct FunctionInvoker: Sendable {
    /// Answers whether the process can serve (for `/ready`): a cheap dependency ping with a short timeout.
    public typealias ReadinessCheck = @Sendable (Logger) async -> Bool
    /// Maps errors the runtime does not know (a domain's) to an answer; nil falls through to a 500.
    public typealias ErrorMapper = @Sendable (any Error) -> HTTPError?

    /// The functions and the selected target.
    public let registry: FunctionRegistry
    private let logger: Logger
    private let readiness: ReadinessCheck
    private let errorMapper: ErrorMapper
    private let requestTimeout: Duration
    private let reporter: (any ErrorReporter)?
    /// Makes a server span per request, continuing the caller's trace (nil: tracing off, no span).
    private let tracer: (any Tracer)?

    /// Creates the invoker.
    /// The message of the per-request line.
    public static let requestLine = "request finished"
    /// Whether every request gets its line at info (the local runner), not only at debug.
    let logRequests: Bool

    public init(
        registry: FunctionRegistry,
        logger: Logger,
        readiness: @escaping ReadinessCheck = { _ in true },
        errorMapper: @escaping ErrorMapper = { _ in nil },
        requestTimeout: Duration = .seconds(300),
        reporter: (any ErrorReporter)? = nil,
        logRequests: Bool = false,
        tracer: (any Tracer)? = nil
    ) {
        self.logRequests = logRequests
        self.tracer = tracer
        self.reporter = reporter
        self.registry = registry
        self.logger = logger
        self.readiness = readiness
        self.errorMapper = errorMapper
        self.requestTimeout = requestTimeout
    }

    /// The most body bytes a request for `path` may carry before it is read: the function's route limit (see
    /// ``HTTPFunction/maxBodyBytes(method:path:)``), within `runtimeLimit`; the runtime's own routes and paths no
    /// function takes read ``Routes/unroutedBodyBytes`` at most.
    public func maxBodyBytes(method: HTTPRequest.Method, path: String, runtimeLimit: Int) -> Int {
        guard !Routes.isRuntimeOwn(path), let (function, routed) = registry.route(path) else { return min(Routes.unroutedBodyBytes, runtimeLimit) }
        return min(function.maxBodyBytes(method: method, path: routed) ?? runtimeLimit, runtimeLimit)
    }

    /// Answers one request. Never throws: every failure becomes a response.
    public func invoke(_ request: FunctionRequest) async -> FunctionResponse {
        let started = ContinuousClock.now
        let inbound = TraceContext(headers: request.headers)
        // The runtime's own routes (probes every few seconds) make no trace.
        guard let tracer, !Routes.isRuntimeOwn(request.path) else { return await invoke(request, started: started, trace: inbound, span: nil) }
        // A server span, child of the caller's `traceparent` or Cloud Run's `X-Cloud-Trace-Context` (read as one).
        let parent = inbound.map { Spans.context(from: $0.w3cHeaders(tracestate: request.headers[.tracestate]), tracer: tracer) }
        return await Spans.run(tracer, request.method.rawValue, kind: .server, context: parent ?? .topLevel) { span in
            let own = span.flatMap { Spans.headers(for: $0.context, tracer: tracer)["traceparent"] }.flatMap(TraceContext.init(traceparent:))
            return await invoke(request, started: started, trace: own ?? inbound, span: span)
        }
    }

    private func invoke(
        _ request: FunctionRequest, started: ContinuousClock.Instant, trace: TraceContext?, span: (any Span)?
    ) async -> FunctionResponse {
        let requestID = RequestID.resolve(from: request.headers)
        var logger = self.logger
        logger[metadataKey: "request_id"] = .string(requestID)
        if let trace {
            logger[metadataKey: "trace"] = .string(trace.traceID)
            logger[metadataKey: "span_id"] = .string(trace.spanID)
        }
        var response: FunctionResponse
        var functionName: String?
        switch request.path {
        case "/health":
            response = .jsonBody(Data(#"{"status":"ok"}"#.utf8))
        case "/ready":
            response = await ready(logger: logger)
        case "/robots.txt", "/favicon.ico":
            response = HTTPError.notFound().response
        default:
            if let (function, path) = registry.route(request.path) {
                functionName = function.name
                logger[metadataKey: "function"] = .string(function.name)
                span?.operationName = "\(request.method.rawValue) \(function.name)"
                var routed = request
                routed.path = path
                let context = FunctionContext(
                    logger: logger,
                    requestID: requestID,
                    trace: trace,
                    deadline: started + requestTimeout,
                    signatureType: registry.signatureType
                )
                do {
                    response = try await function.handle(routed, context: context)
                } catch {
                    response = self.response(for: error, logger: logger)
                    if response.status.code == 500 {
                        reporter?.report(error, facts: ErrorFacts(requestID: requestID, function: function.name, traceID: trace?.traceID))
                    }
                    // A refusal (4xx) is the caller's doing, not a failure of the server's (OpenTelemetry's HTTP rules).
                    if let span, response.status.code >= 500 { Spans.failed(span, error) }
                }
            } else {
                response = HTTPError.notFound("No function at this path.").response
            }
        }
        response.headers[RequestID.headerName] = requestID
        response.headers[.eTag] = nil
        if let span {
            // What a span says of a request: method, path (as received, at most 128 characters), status. Never a
            // header, a query or a body.
            span.attributes["http.request.method"] = request.method.rawValue
            span.attributes["url.path"] = String(request.path.prefix { $0 != "?" }.prefix(128))
            span.attributes["http.response.status_code"] = Int64(response.status.code)
            if let functionName { span.attributes["function"] = functionName }
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
        }
        // Cloud Run logs every request itself; the line is written at debug, or at info where nothing else does
        // (`logRequests`: the local runner).
        let level: Logger.Level = logRequests ? .info : .debug
        if logger.logLevel <= level {
            let elapsed = ContinuousClock.now - started
            logger.log(
                level: level,
                "\(Self.requestLine)",
                metadata: [
                    "method": .string(request.method.rawValue),
                    "path": .string(String(request.path.prefix { $0 != "?" })),
                    "status": .stringConvertible(response.status.code),
                    "duration_ms": .stringConvertible(elapsed.milliseconds),
                    "function": .string(functionName ?? "-"),
                ]
            )
        }
        return response
    }

    private func ready(logger: Logger) async -> FunctionResponse {
        if await readiness(logger) {
            return .jsonBody(Data(#"{"status":"ready"}"#.utf8))
        }
        return HTTPError(.serviceUnavailable, code: "not_ready", detail: "A dependency is not reachable.", headers: [.retryAfter: "5"])
            .response
    }

    /// The single place where errors become responses: the runtime's own (``HTTPError``, malformed CloudEvents),
    /// then the functions' through `errorMapper`, else a generic 500.
    func response(for error: any Error, logger: Logger) -> FunctionResponse {
        let mapped: HTTPError? = (error as? HTTPError) ?? (error as? CloudEventError)?.httpError ?? errorMapper(error)
        guard let mapped else {
            logger.error(
                "unhandled error: \(String(describing: error))",
                metadata: ["error_type": .string(String(describing: type(of: error)))]
            )
            return HTTPError.internalError.response
        }
        if mapped.status.code >= 500 {
            logger.warning(
                "request failed: \(mapped.code): \(String(describing: error))",
                metadata: ["status": .stringConvertible(mapped.status.code), "code": .string(mapped.code)]
            )
        } else {
            logger.info("request rejected: \(mapped.code)", metadata: ["status": .stringConvertible(mapped.status.code), "code": .string(mapped.code)])
        }
        return mapped.response
    }
}
