/// Failures of the store that callers map to answers.
public enum StoreError: Error, Sendable, Equatable {
    /// PostgreSQL cannot be reached or is shutting down: answer 503 and let the caller retry.
    case unavailable
}
