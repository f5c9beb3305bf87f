import Domain
import Foundation
import Synchronization

/// A wall clock that tests move by hand; no test sleeps to make time pass.
public final class TestClock: Sendable {
    private let current: Mutex<Date>

    /// Starts at `start` (default: now, rounded to the second).
    public init(start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))) {
        current = Mutex(start)
    }

    /// The clock to inject.
    public var clock: WallClock { WallClock { self.now } }

    /// Moves time forward.
    public func advance(seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    /// The current test time.
    public var now: Date { current.withLock { $0 } }
}
