/// Where one piece of leased work stands (a webhook delivery, an alert send).
public enum WorkStatus: Sendable, Equatable {
    /// Due at its next attempt time (or being attempted under a claim).
    case pending
    /// Done: the partner or provider took it.
    case succeeded
    /// Given up: no attempts left, or the partner said never again.
    case failed

    /// What this status counts as in a drain's report and the attempts counters.
    public var result: AttemptResult {
        switch self {
        case .pending: return .retrying
        case .succeeded: return .succeeded
        case .failed: return .failed
        }
    }
}

/// How one claimed attempt ended, as a drain counts it.
public enum AttemptResult: String, Sendable, Equatable {
    /// Taken by the other side.
    case succeeded
    /// Failed; due again on the schedule.
    case retrying
    /// Failed for good.
    case failed
    /// Not recorded: the claim had lapsed (another drain holds it now) or the record could not be written.
    case lost
}
