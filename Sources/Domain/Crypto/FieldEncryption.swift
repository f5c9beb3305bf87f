import Foundation

/// Encryption of stored fields with `FIELD_ENCRYPTION_KEYS` / `FIELD_ENCRYPTION_KEY` (Fernet), as the original
/// system did it.
///
/// Secrets are always encrypted when a key is set; payloads only when `REAL_DATA_MODE=true`. Rows say
/// whether they are encrypted, so turning the key on does not strand older rows. Several keys work as Python's
/// `MultiFernet`: the first (newest) encrypts, every one decrypts, so a new key can be put first while rows
/// under the older ones are still read.
public struct FieldEncryption: Sendable {
    /// Newest first; empty without a key.
    private let fernets: [Fernet]
    private var fernet: Fernet? { fernets.first }
    /// Whether payloads (health data) are encrypted too.
    public let encryptPayloads: Bool

    /// Plain storage (development without a key).
    public static let none = FieldEncryption(fernets: [], encryptPayloads: false)

    /// From the settings; `REAL_DATA_MODE` without a key is refused (the caller reports it at start-up).
    public init(key: String?, realDataMode: Bool) throws(Fernet.Failure) {
        try self.init(keys: key.map { [$0] } ?? [], realDataMode: realDataMode)
    }

    /// From several keys, newest first (`FIELD_ENCRYPTION_KEYS`): the first encrypts, all decrypt.
    public init(keys: [String], realDataMode: Bool) throws(Fernet.Failure) {
        var fernets: [Fernet] = []
        for key in keys { fernets.append(try Fernet(key: key)) }
        guard !fernets.isEmpty || !realDataMode else { throw .invalidKey }
        self.init(fernets: fernets, encryptPayloads: realDataMode)
    }

    init(fernets: [Fernet], encryptPayloads: Bool) {
        self.fernets = fernets
        self.encryptPayloads = encryptPayloads
    }

    /// Opens `token` with the first key it was made with (`MultiFernet.decrypt`).
    private func decrypt(_ token: String) throws(Fernet.Failure) -> Data {
        guard !fernets.isEmpty else { throw .invalidKey }
        for fernet in fernets {
            if let data = try? fernet.decrypt(token) { return data }
        }
        throw .invalidToken
    }

    /// Whether a key is set.
    public var hasKey: Bool { !fernets.isEmpty }

    /// What ``reseal(_:)`` made of one stored token.
    public enum Resealed: Sendable, Equatable {
        /// The newest key opens it: nothing to do.
        case current
        /// Re-encrypted with the newest key.
        case resealed(String)
        /// No key opens it (another key, or not a token).
        case unreadable
    }

    /// `MultiFernet.rotate`: a token that only an older key opens is re-encrypted with the newest key, keeping the
    /// time it was made at; one the newest key opens is left as it is (so a rotation that stopped half-way can
    /// run again and write only what it did not reach).
    public func reseal(_ token: String) -> Resealed {
        guard let newest = fernets.first else { return .unreadable }
        if (try? newest.decrypt(token)) != nil { return .current }
        for older in fernets.dropFirst() {
            guard let (plaintext, time) = try? older.open(token) else { continue }
            guard let token = try? newest.encrypt(plaintext, at: time) else { return .unreadable }
            return .resealed(token)
        }
        return .unreadable
    }

    /// A value stored in clear (before a key was set) as a token of the newest key.
    public func seal(_ value: Data) throws -> String {
        guard let fernet else { throw Fernet.Failure.invalidKey }
        return try fernet.encrypt(value)
    }

    /// A secret as stored: encrypted whenever a key is set.
    public func sealSecret(_ secret: String) throws -> (text: String, encrypted: Bool) {
        guard let fernet else { return (secret, false) }
        return (try fernet.encrypt(secret), true)
    }

    /// A stored secret in clear.
    public func openSecret(_ text: String, encrypted: Bool) throws -> String {
        guard encrypted else { return text }
        guard let text = String(data: try decrypt(text), encoding: .utf8) else { throw Fernet.Failure.invalidToken }
        return text
    }

    /// A payload as stored: a Fernet token in real-data mode, the bytes otherwise.
    public func sealPayload(_ payload: Data) throws -> (data: Data, encrypted: Bool) {
        guard encryptPayloads, let fernet else { return (payload, false) }
        return (Data(try fernet.encrypt(payload).utf8), true)
    }

    /// Text that may echo health data (a partner's answer, a provider's error) as stored: a token in real-data
    /// mode, the text otherwise.
    public func sealText(_ text: String) throws -> (text: String, encrypted: Bool) {
        guard encryptPayloads, let fernet else { return (text, false) }
        return (try fernet.encrypt(text), true)
    }

    /// Stored text in clear.
    public func openText(_ text: String, encrypted: Bool) throws -> String {
        guard encrypted else { return text }
        return String(decoding: try decrypt(text), as: UTF8.self)
    }

    /// A stored payload in clear.
    public func openPayload(_ data: Data, encrypted: Bool) throws -> Data {
        guard encrypted else { return data }
        return try decrypt(String(decoding: data, as: UTF8.self))
    }
}
