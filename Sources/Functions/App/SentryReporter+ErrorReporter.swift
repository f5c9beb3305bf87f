import Outbound
import Runtime

/// The runtime reports unexpected errors through its own protocol; Sentry's client knows nothing of the shim.
extension SentryReporter: ErrorReporter {
    /// Queues the error with the request's allow-listed facts.
    public func report(_ error: any Error, facts: ErrorFacts) {
        report(error, requestID: facts.requestID, function: facts.function, traceID: facts.traceID)
    }
}
