import _CryptoExtras
import Crypto
import Foundation
import Primitives

/// Django's `pbkdf2_sha256` password hashes: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
///
/// Verifies at whatever iteration count a hash carries; new hashes use the configured count. Hashes
/// prefixed `!` (Django's unusable passwords) and every other algorithm never match.
public struct DjangoPasswordHasher: Sendable {
    /// The iteration count for new hashes (Django 6.0's default is 1,200,000).
    public let iterations: Int

    /// A hasher producing new hashes at `iterations`.
    public init(iterations: Int = 1_200_000) {
        self.iterations = iterations
    }

    /// The result of checking a password against a stored hash.
    public struct Verification: Sendable, Equatable {
        /// The password matches.
        public var matches: Bool
        /// It matches but was stored at another iteration count: store a new hash.
        public var needsRehash: Bool
        /// PBKDF2 iterations computed to reach this answer (the work a caller's timing can see).
        public var iterationsSpent: Int

        /// Creates a result.
        public init(matches: Bool, needsRehash: Bool, iterationsSpent: Int = 0) {
            self.matches = matches
            self.needsRehash = needsRehash
            self.iterationsSpent = iterationsSpent
        }
    }

    /// Checks `password` against `encoded`, in constant time over the derived bytes. CPU-heavy: call it
    /// off the event loop (``PasswordWork``).
    ///
    /// A refusal always costs at least one hash at the configured count, whatever the stored hash holds: a hash
    /// stored at fewer iterations (users imported from an older Django) is topped up with the difference, and
    /// unusable or foreign hashes cost one full hash, so a wrong password for such a user answers as slowly as
    /// one for an unknown user (``burnOneHash(_:)``) and timing does not tell which usernames exist. A match at
    /// fewer iterations is not topped up: its caller stores a new hash at the configured count (`needsRehash`).
    public func verify(_ password: String, against encoded: String) -> Verification {
        guard let parsed = Parsed(encoded) else {
            return Verification(matches: false, needsRehash: false, iterationsSpent: burnOneHash(password))
        }
        let derived = derive(password, salt: parsed.salt, iterations: parsed.iterations)
        let matches = ConstantTime.equals(Array(derived), Array(parsed.hash))
        var spent = parsed.iterations
        if !matches, parsed.iterations < iterations {
            _ = derive(password, salt: "timing-equaliser", iterations: iterations - parsed.iterations)
            spent = iterations
        }
        return Verification(matches: matches, needsRehash: matches && parsed.iterations != iterations, iterationsSpent: spent)
    }

    /// One full hash at the configured count, for unknown users (Django's `make_password` on the dummy path).
    /// Returns the iterations computed.
    @discardableResult
    public func burnOneHash(_ password: String) -> Int {
        _ = derive(password, salt: "timing-equaliser", iterations: iterations)
        return iterations
    }

    /// A new encoded hash with a fresh 22-character salt.
    public func hash(_ password: String, salt: String = DjangoPasswordHasher.makeSalt()) -> String {
        let derived = derive(password, salt: salt, iterations: iterations)
        return "pbkdf2_sha256$\(iterations)$\(salt)$\(derived.base64EncodedString())"
    }

    /// Django's salt alphabet and length: 22 characters of `[a-zA-Z0-9]` (about 131 bits).
    public static func makeSalt() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<22).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    func derive(_ password: String, salt: String, iterations: Int) -> Data {
        let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: Data(password.utf8),
            salt: Data(salt.utf8),
            using: .sha256,
            outputByteCount: 32,
            unsafeUncheckedRounds: iterations
        )
        return key.map { $0.withUnsafeBytes { Data($0) } } ?? Data()
    }

    /// A parsed `pbkdf2_sha256` hash; nil for anything else.
    struct Parsed {
        let iterations: Int
        let salt: String
        let hash: Data

        init?(_ encoded: String) {
            let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "pbkdf2_sha256", let iterations = Int(parts[1]),
                (1...100_000_000).contains(iterations), !parts[2].isEmpty, !parts[2].contains("$"),
                let hash = Data(base64Encoded: String(parts[3])), hash.count == 32
            else { return nil }
            self.iterations = iterations
            self.salt = String(parts[2])
            self.hash = hash
        }
    }
}
