/// Receives unexpected errors (the ones answered with a generic 500), for an error tracker such as Sentry.
///
/// The invoker calls it with the error and the request's safe facts only; implementations must not block
/// the request (queue and send elsewhere) and must scrub anything free-text.
public protocol ErrorReporter: Sendable {
    /// Reports one unexpected error.
    func report(_ error: any Error, facts: ErrorFacts)
}

/// The allow-listed facts about a failed request: never bodies, headers, query strings or user data.
public struct ErrorFacts: Sendable, Equatable {
    /// The request id.
    public var requestID: String
    /// The function that failed, when known.
    public var function: String?
    /// The trace id, when known.
    public var traceID: String?

    /// Creates the facts.
    public init(requestID: String, function: String?, traceID: String?) {
        self.requestID = requestID
        self.function = function
        self.traceID = traceID
    }
}
