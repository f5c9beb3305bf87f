public import Logging

/// Per-invocation data handed to a handler: the logger (tagged with request id and trace), ids, deadline.
public struct FunctionContext: Sendable {
    /// A logger whose lines carry the request id and trace of this invocation.
    public var logger: Logger
    /// The request id: the caller's well-formed `X-Request-ID`, else a new one. Echoed on the response.
    public var requestID: String
    /// The trace context from `traceparent` or `X-Cloud-Trace-Context`, when present.
    public var trace: TraceContext?
    /// When the platform will give up on this request.
    public var deadline: ContinuousClock.Instant
    /// How requests are to be read when `FUNCTION_SIGNATURE_TYPE` says so; nil: by what each carries.
    public var signatureType: SignatureType?

    /// Creates a context; the invoker makes one per request, tests may make their own.
    public init(
        logger: Logger,
        requestID: String,
        trace: TraceContext? = nil,
        deadline: ContinuousClock.Instant = .now + .seconds(300),
        signatureType: SignatureType? = nil
    ) {
        self.logger = logger
        self.requestID = requestID
        self.trace = trace
        self.deadline = deadline
        self.signatureType = signatureType
    }
}
