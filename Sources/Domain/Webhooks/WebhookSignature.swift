import Crypto
import Foundation
import Primitives

/// Webhook signatures: Standard Webhooks 1.0 (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and the
/// original system's `X-Signature` (hex HMAC-SHA256 of the raw body). Every comparison is constant-time.
public enum WebhookSignature {
    /// How far a `webhook-timestamp` may be from now, either way (5 minutes).
    public static let tolerance: TimeInterval = 300

    /// The key bytes of a secret: a `whsec_` secret's base64 payload, otherwise the secret's UTF-8 bytes.
    public static func keyBytes(of secret: String) -> [UInt8] {
        if secret.hasPrefix("whsec_"), let decoded = Data(base64Encoded: String(secret.dropFirst(6))) {
            return Array(decoded)
        }
        return Array(secret.utf8)
    }

    /// A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
    public static func newSecret() -> String {
        "whsec_" + Data(SecureRandom.bytes(32)).base64EncodedString()
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    public static func standard(id: String, timestamp: Int64, body: Data, secret: String) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: keyBytes(of: secret)))
        mac.update(data: Array("\(id).\(timestamp).".utf8))
        mac.update(data: body)
        return "v1," + Data(mac.finalize()).base64EncodedString()
    }

    /// The `webhook-signature` header value: one `v1,` entry per active secret, space-separated.
    public static func standardHeader(id: String, timestamp: Int64, body: Data, secrets: [String]) -> String {
        secrets.map { standard(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    /// Hex HMAC-SHA256 of the raw body (the original's `X-Signature`).
    public static func hex(body: Data, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: keyBytes(of: secret)))
        return Hex.lowercase(mac)
    }

    /// Why a signature was refused.
    public enum Failure: Error, Sendable, Equatable {
        /// A required header is missing or malformed.
        case missingHeaders
        /// The timestamp is more than five minutes off.
        case staleTimestamp
        /// No signature matches any active secret.
        case mismatch
    }

    /// Verifies Standard Webhooks headers against any of `secrets`.
    public static func verifyStandard(
        id: String?,
        timestamp: String?,
        signatures: String?,
        body: Data,
        secrets: [String],
        now: Date
    ) throws(Failure) {
        guard let id, !id.isEmpty, id.utf8.count <= 256, let timestamp, let seconds = Int64(timestamp), let signatures else {
            throw .missingHeaders
        }
        guard abs(Double(seconds) - now.timeIntervalSince1970) <= tolerance else { throw .staleTimestamp }
        let presented = signatures.split(separator: " ").compactMap { entry -> [UInt8]? in
            guard entry.hasPrefix("v1,") else { return nil }
            return Data(base64Encoded: String(entry.dropFirst(3))).map(Array.init)
        }
        let prefix = Array("\(id).\(seconds).".utf8)
        for secret in secrets {
            // The signed content is "{id}.{timestamp}.{body}": hashed in two parts, so the body is never copied.
            var mac = HMAC<SHA256>(key: SymmetricKey(data: keyBytes(of: secret)))
            mac.update(data: prefix)
            mac.update(data: body)
            let expected = Array(mac.finalize())
            var matched = false
            for candidate in presented where ConstantTime.equals(candidate, expected) { matched = true }
            if matched { return }
        }
        throw .mismatch
    }

    /// Verifies an `X-Signature` (hex, `sha256=` prefix allowed) against any of `secrets`.
    public static func verifyHex(_ header: String?, body: Data, secrets: [String]) throws(Failure) {
        guard var value = header?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { throw .missingHeaders }
        if value.lowercased().hasPrefix("sha256=") { value = String(value.dropFirst(7)) }
        let presented = Array(value.lowercased().utf8)
        var matched = false
        for secret in secrets where ConstantTime.equals(presented, Array(hex(body: body, secret: secret).utf8)) { matched = true }
        guard matched else { throw .mismatch }
    }
}
