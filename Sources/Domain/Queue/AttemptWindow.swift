/// When a drain may still start an attempt, on the monotonic clock: only while the attempt's whole timeout fits
/// before the drain's deadline (or, with a budget shorter than two timeouts, until half of it has passed, with the
/// timeout cut to what is left) and before its claim's lease ends, keeping a second to record it. A claim that
/// cannot start in time is given back rather than attempted.
public struct AttemptWindow: Sendable {
    /// The drain's end.
    public let deadline: ContinuousClock.Instant
    /// The longest timeout an attempt gets.
    public let attemptTimeout: Duration
    /// The last moment an attempt may start.
    public let startBy: ContinuousClock.Instant
    /// Kept between an attempt's end and its lease's end, to record it.
    public static let recordingMargin = Duration.seconds(1)

    /// The window of a drain that started at `started` and must end by `deadline`.
    public init(started: ContinuousClock.Instant, deadline: ContinuousClock.Instant, attemptTimeout: Duration) {
        self.deadline = deadline
        self.attemptTimeout = attemptTimeout
        startBy = max(deadline - attemptTimeout, started + (deadline - started) / 2)
    }

    /// True once no attempt may start.
    public func isClosed(at now: ContinuousClock.Instant) -> Bool { now > startBy }

    /// The timeout an attempt starting at `now` gets.
    public func timeout(at now: ContinuousClock.Instant) -> Duration { min(attemptTimeout, deadline - now) }

    /// Whether an attempt starting at `now` ends, recorded, before a lease that ends at `leaseEnds`.
    public func fits(at now: ContinuousClock.Instant, leaseEnds: ContinuousClock.Instant) -> Bool {
        now + timeout(at: now) <= leaseEnds - Self.recordingMargin
    }
}
