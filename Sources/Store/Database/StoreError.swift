/// Failures of the store that callers map to answers.
public enum StoreError: Error, Sendable, Equatable {
    /// PostgreSQL cannot be reached or is shutting down: answer 503 and let the caller retry.
    case unavailable
    /// A statement failed. Only the SQLSTATE and schema object names are kept: the server's message and
    /// detail quote input (`Key (email)=(…) already exists`) and must never reach a log.
    case queryFailed(sqlState: String, objects: String)
}

extension StoreError: CustomStringConvertible {
    /// Safe to log.
    public var description: String {
        switch self {
        case .unavailable: return "database unavailable"
        case .queryFailed(let state, let objects): return "query failed: SQLSTATE \(state) \(objects)"
        }
    }
}
