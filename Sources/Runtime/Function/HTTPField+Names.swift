public import HTTPTypes

extension HTTPField.Name {
    /// The client chain Cloud Run's front end appends to.
    public static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    /// W3C trace context.
    public static let traceparent = HTTPField.Name("traceparent")!
    /// W3C Trace Context's vendor state, passed on with `traceparent`.
    public static let tracestate = HTTPField.Name("tracestate")!
    /// Cloud Run's legacy trace header (`TRACE/SPAN;o=1`, SPAN decimal).
    public static let xCloudTraceContext = HTTPField.Name("X-Cloud-Trace-Context")!
    /// A binary-mode CloudEvent's spec version.
    public static let ceSpecVersion = HTTPField.Name("ce-specversion")!
    /// The request id echoed on every response.
    public static let xRequestID = HTTPField.Name("X-Request-ID")!
}
