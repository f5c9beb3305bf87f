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

    /// True when `text` holds a C0 or C1 control character or DEL (a NUL cannot even be stored in `text`), or a
    /// line or paragraph separator.
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { scalar in
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
        }
    }
}
