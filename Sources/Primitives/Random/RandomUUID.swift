import Foundation

extension UUID {
    /// A random (version 4) UUID from ``SecureRandom``, without a system call of its own. (`UUID()` on Linux
    /// opens, reads and closes `/dev/urandom` for every id; the busy functions make several ids per request.)
    public static func random() -> UUID {
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { SecureRandom.fill($0) }
        uuid.6 = (uuid.6 & 0x0F) | 0x40
        uuid.8 = (uuid.8 & 0x3F) | 0x80
        return UUID(uuid: uuid)
    }

    /// The 32 lowercase hex digits of the UUID, without dashes (`uuidString.lowercased()` minus the dashes,
    /// without Foundation's string replacing).
    public var compactHex: String {
        withUnsafeBytes(of: uuid) { Hex.lowercase($0) }
    }
}
