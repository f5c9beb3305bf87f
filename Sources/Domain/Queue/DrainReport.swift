/// What one drain of a work queue did (webhook deliveries or alert sends); the drain's JSON answer.
public struct DrainReport: Sendable, Equatable, Codable {
    /// Items claimed.
    public var claimed = 0
    /// Attempts the other side took.
    public var succeeded = 0
    /// Attempts that failed and will be retried.
    public var retrying = 0
    /// Items that failed for good.
    public var failed = 0
    /// Results dropped because the claim had lapsed.
    public var lostClaims = 0
    /// Webhook endpoints disabled by this drain (always 0 for alerts).
    public var endpointsDisabled = 0
    /// Whether the drain stopped because its time budget ran out.
    public var budgetExhausted = false

    /// An empty report.
    public init() {}

    /// Counts one attempt's result.
    public mutating func count(_ result: AttemptResult) {
        switch result {
        case .succeeded: succeeded += 1
        case .retrying: retrying += 1
        case .failed: failed += 1
        case .lost: lostClaims += 1
        }
    }
}
