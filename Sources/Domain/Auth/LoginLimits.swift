import Crypto
import Foundation
import Primitives

/// Which failed-login counters a login attempt is checked against, and how many failures each allows in the
/// window. The three limits, and the attack each one stops:
///
/// - **username and address together** (`LOGIN_MAX_FAILURES`, 5 per window, the original's number): guessing one
///   user's password from one place. Counted per pair, so failures from elsewhere never lock the user out of
///   the place they log in from: five wrong passwords for `alice` from an attacker's address cost alice nothing.
/// - **address across usernames** (`LOGIN_MAX_FAILURES_PER_ADDRESS`, 50): password spraying, one common password
///   tried against many usernames from one place. 50 is ten users' worth of typos from one office or carrier
///   address in 15 minutes, far below what spraying needs.
/// - **username across addresses** (`LOGIN_MAX_FAILURES_PER_USERNAME`, 100): a distributed guess at one account.
///   One address can add at most 5 failures to it, so locking a user out takes 20 addresses (20 /64 networks for
///   IPv6) within the window, and even then it lasts only until the window passes.
///
/// IPv6 addresses count per /64 (one host usually holds a whole /64, and would otherwise have 2^64 fresh
/// addresses to try from); IPv4 per address. Counters are keyed by SHA-256 so the table holds no usernames.
public enum LoginLimits {
    /// One counter.
    public struct Key: Sendable, Equatable {
        /// `pair`, `address` or `username` (the `scope` column).
        public let scope: String
        /// SHA-256 of what is counted.
        public let hash: Data
        /// Failures allowed in the window; the next attempt is refused.
        public let maxFailures: Int

        /// The name of the transaction advisory lock that serialises this counter's attempts.
        public var lockName: String { scope + ":" + hash.base64EncodedString() }
    }

    /// The counters an attempt for `username` from `address` is checked against; without an address, only the
    /// username's own (as a pair with no address, and across addresses).
    public static func keys(username: String, address: String?, settings: AuthSettings) -> [Key] {
        let network = address.flatMap(Self.network(of:))
        var keys = [
            Key(scope: "pair", hash: digest(username + "\u{0}" + (network ?? "")), maxFailures: settings.maxFailures),
            Key(scope: "username", hash: digest(username), maxFailures: settings.maxFailuresPerUsername),
        ]
        if let network {
            keys.append(Key(scope: "address", hash: digest(network), maxFailures: settings.maxFailuresPerAddress))
        }
        return keys
    }

    /// The unit an address is counted in: the address itself for IPv4, its /64 for IPv6; text that is not an
    /// address (a peer the runtime could not parse) is counted as it is.
    public static func network(of address: String) -> String? {
        guard !address.isEmpty else { return nil }
        guard let parsed = IPAddress(address) else { return String(address.prefix(64)) }
        if parsed.isIPv4 { return parsed.description }
        return Hex.lowercase(parsed.bytes.prefix(8)) + "::/64"
    }

    static func digest(_ text: String) -> Data { Data(SHA256.hash(data: Data(text.utf8))) }
}
