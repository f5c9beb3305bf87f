import _CryptoExtras
import Crypto
import Foundation
import Primitives

/// Fernet (the spec Python's `cryptography.fernet` implements), the original system's field encryption.
///
/// Key: 32 bytes, URL-safe base64; the first 16 sign (HMAC-SHA256), the last 16 encrypt (AES-128-CBC, PKCS7).
/// Token: URL-safe base64 of `0x80 ‖ timestamp ‖ IV ‖ ciphertext ‖ HMAC`. Tokens interoperate both ways.
public struct Fernet: Sendable {
    private let signingKey: [UInt8]
    private let encryptionKey: [UInt8]

    /// Why a key or token was refused (never echoing either).
    public enum Failure: Error, Sendable, Equatable {
        /// The key is not 32 bytes of URL-safe base64.
        case invalidKey
        /// The token is malformed, was tampered with, or was made with another key.
        case invalidToken
    }

    /// A Fernet with `key` (44 characters of URL-safe base64, as `Fernet.generate_key()` makes).
    public init(key: String) throws(Failure) {
        guard let bytes = Self.urlSafeDecode(key), bytes.count == 32 else { throw .invalidKey }
        self.signingKey = Array(bytes.prefix(16))
        self.encryptionKey = Array(bytes.suffix(16))
    }

    /// A new random key.
    public static func generateKey() -> String {
        Data(SecureRandom.bytes(32)).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// Encrypts `plaintext` at `time` with a random IV (the IV is a parameter for known-answer tests).
    public func encrypt(_ plaintext: Data, at time: Date = Date(), iv: [UInt8]? = nil) throws -> String {
        let iv = iv ?? SecureRandom.bytes(16)
        let ciphertext = try AES._CBC.encrypt(plaintext, using: SymmetricKey(data: encryptionKey), iv: try AES._CBC.IV(ivBytes: iv))
        var token = Data([0x80])
        var timestamp = UInt64(max(0, time.timeIntervalSince1970.rounded(.down))).bigEndian
        withUnsafeBytes(of: &timestamp) { token.append(contentsOf: $0) }
        token.append(contentsOf: iv)
        token.append(ciphertext)
        let mac = HMAC<SHA256>.authenticationCode(for: token, using: SymmetricKey(data: signingKey))
        token.append(contentsOf: mac)
        return token.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// Encrypts a string's UTF-8 bytes.
    public func encrypt(_ plaintext: String, at time: Date = Date()) throws -> String {
        try encrypt(Data(plaintext.utf8), at: time)
    }

    /// Decrypts a token (no TTL: stored fields do not expire).
    public func decrypt(_ token: String) throws(Failure) -> Data {
        try open(token).plaintext
    }

    /// Decrypts a token and returns the time it was made at too (what `MultiFernet.rotate` keeps).
    public func open(_ token: String) throws(Failure) -> (plaintext: Data, time: Date) {
        guard let bytes = Self.urlSafeDecode(token), bytes.count >= 1 + 8 + 16 + 16 + 32, bytes[0] == 0x80,
            (bytes.count - 57) % 16 == 0
        else { throw .invalidToken }
        let signed = bytes.prefix(bytes.count - 32)
        let mac = bytes.suffix(32)
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: SymmetricKey(data: signingKey)) else {
            throw .invalidToken
        }
        let start = bytes.startIndex
        let iv = Array(bytes[(start + 9)..<(start + 25)])
        let ciphertext = bytes[(start + 25)..<(bytes.endIndex - 32)]
        let seconds = bytes[(start + 1)..<(start + 9)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        do {
            let plaintext = try AES._CBC.decrypt(ciphertext, using: SymmetricKey(data: encryptionKey), iv: try AES._CBC.IV(ivBytes: iv))
            return (plaintext, Date(timeIntervalSince1970: TimeInterval(seconds)))
        } catch {
            throw .invalidToken
        }
    }

    /// Decrypts a token holding UTF-8 text.
    public func decryptString(_ token: String) throws(Failure) -> String {
        guard let text = String(data: try decrypt(token), encoding: .utf8) else { throw .invalidToken }
        return text
    }

    /// URL-safe base64 with padding (Fernet's encoding); also tolerates missing padding.
    static func urlSafeDecode(_ text: String) -> Data? {
        var base64 = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
