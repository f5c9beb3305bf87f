import Foundation
import Primitives

/// When to try a delivery again: the schedule in wide use (Svix), each delay with ±20 % jitter.
public struct RetrySchedule: Sendable, Equatable {
    /// Delays before attempt 1, 2, …: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    public var delays: [TimeInterval]
    /// Jitter as a fraction of each delay (0.2 = ±20 %).
    public var jitter: Double
    /// The longest `Retry-After` honoured.
    public var maximumRetryAfter: TimeInterval

    /// The default schedule.
    public init(delays: [TimeInterval] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000], jitter: Double = 0.2, maximumRetryAfter: TimeInterval = 36_000) {
        self.delays = delays
        self.jitter = jitter
        self.maximumRetryAfter = maximumRetryAfter
    }

    /// Parses `WEBHOOK_RETRY_SCHEDULE`: comma-separated seconds, for example `0,5,300`.
    public init?(parsing text: String) {
        let delays = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !delays.isEmpty, delays.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        self.init(delays: delays.compactMap { $0 })
    }

    /// The number of attempts in all.
    public var maximumAttempts: Int { delays.count }

    /// When attempt `next` (1-based) is due after a failure at `now`; nil when attempts are used up.
    /// A `Retry-After` later than the schedule is honoured, up to `maximumRetryAfter`.
    public func nextAttempt(
        after attempt: Int,
        at now: Date,
        retryAfter: TimeInterval? = nil,
        random: Double = RetrySchedule.randomJitter()
    ) -> Date? {
        guard attempt < delays.count else { return nil }
        var delay = delays[attempt] * (1 + jitter * random)
        if let retryAfter, retryAfter > delay { delay = min(retryAfter, maximumRetryAfter) }
        return now.addingTimeInterval(max(0, delay))
    }

    /// A jitter factor in -1...1 (no secrecy needed, so no system call for it).
    public static func randomJitter() -> Double {
        var random = SamplingRandom()
        return Double.random(in: -1...1, using: &random)
    }
}
