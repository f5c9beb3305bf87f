import Foundation

/// The wall clock, injected wherever time decides an outcome (token expiry, rate-limit windows, leases), so
/// tests move time instead of sleeping.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    /// A clock reading `read`.
    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    /// The system clock.
    public static let system = WallClock { Date() }

    /// The current time.
    public func now() -> Date { read() }

    /// The current time in whole Unix seconds.
    public func unixSeconds() -> Int64 { Int64(read().timeIntervalSince1970.rounded(.down)) }
}
