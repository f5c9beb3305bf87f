import Crypto
import Foundation
import Primitives

/// How a de-duplication key is stored: as given when it is short printable text, else as the SHA-256 of its UTF-8
/// bytes (`sha256:<hex>`), so a key of any length and content (a NUL in a CloudEvent id, a 3 KB Pub/Sub message id)
/// fits the unique index and a `text` column, and the same key always maps to the same stored form.
public enum IdempotencyKey {
    /// The longest key kept as given, in UTF-8 bytes.
    public static let maxPlainBytes = 200

    /// The stored form of `key`.
    public static func stored(_ key: String) -> String {
        if key.utf8.count <= maxPlainBytes, !key.isEmpty, !hasControlCharacters(key), !key.hasPrefix("sha256:") { return key }
        return "sha256:" + digest(key)
    }

    /// The SHA-256 of `key`'s UTF-8 bytes, in lowercase hex: how a key is named where its value must not appear.
    public static func digest(_ key: String) -> String {
        Hex.lowercase(SHA256.hash(data: Data(key.utf8)))
    }

    /// True when `text` holds a control character (a NUL cannot even be stored in `text`) or any line break
    /// (``TextRules/isToken(_:)``).
    public static func hasControlCharacters(_ text: String) -> Bool {
        !TextRules.isToken(text)
    }
}
