import Foundation

/// Bytes a partner sent (a response body, a provider's reason) made safe to store in a PostgreSQL `text` column
/// and to show: invalid UTF-8 becomes U+FFFD, NUL (which `text` cannot hold) becomes U+FFFD, and the result is cut
/// to at most `maxBytes` UTF-8 bytes on a character boundary. Never fails, whatever the bytes.
public enum PartnerText {
    /// The stored form of `bytes`.
    public static func stored<Bytes: Collection<UInt8>>(_ bytes: Bytes, maxBytes: Int = 1024) -> String {
        // Decode a little more than kept: a multi-byte sequence cut by the prefix decodes as U+FFFD, dropped below.
        let decoded = String(decoding: bytes.prefix(maxBytes + 4), as: UTF8.self)
        return stored(decoded, maxBytes: maxBytes)
    }

    /// `text` without NUL and cut to at most `maxBytes` UTF-8 bytes on a character boundary.
    public static func stored(_ text: String, maxBytes: Int = 1024) -> String {
        var result = ""
        var used = 0
        for scalar in text.unicodeScalars {
            let kept: Unicode.Scalar = scalar == "\u{0}" ? "\u{FFFD}" : scalar
            let size = UTF8.width(kept)
            if used + size > maxBytes { break }
            result.unicodeScalars.append(kept)
            used += size
        }
        return result
    }
}
