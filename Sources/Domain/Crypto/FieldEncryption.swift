import Foundation

/// Encryption of stored fields with `FIELD_ENCRYPTION_KEY` (Fernet), as the original system did it.
///
/// Secrets are always encrypted when a key is set; payloads only when `REAL_DATA_MODE=true`. Rows say
/// whether they are encrypted, so turning the key on does not strand older rows.
public struct FieldEncryption: Sendable {
    private let fernet: Fernet?
    /// Whether payloads (health data) are encrypted too.
    public let encryptPayloads: Bool

    /// Plain storage (development without a key).
    public static let none = FieldEncryption(fernet: nil, encryptPayloads: false)

    /// From the settings; `REAL_DATA_MODE` without a key is refused (the caller reports it at start-up).
    public init(key: String?, realDataMode: Bool) throws(Fernet.Failure) {
        let fernet = try key.map { (key: String) throws(Fernet.Failure) -> Fernet in try Fernet(key: key) }
        guard fernet != nil || !realDataMode else { throw .invalidKey }
        self.init(fernet: fernet, encryptPayloads: realDataMode)
    }

    init(fernet: Fernet?, encryptPayloads: Bool) {
        self.fernet = fernet
        self.encryptPayloads = encryptPayloads
    }

    /// A secret as stored: encrypted whenever a key is set.
    public func sealSecret(_ secret: String) throws -> (text: String, encrypted: Bool) {
        guard let fernet else { return (secret, false) }
        return (try fernet.encrypt(secret), true)
    }

    /// A stored secret in clear.
    public func openSecret(_ text: String, encrypted: Bool) throws -> String {
        guard encrypted else { return text }
        guard let fernet else { throw Fernet.Failure.invalidKey }
        return try fernet.decryptString(text)
    }

    /// A payload as stored: a Fernet token in real-data mode, the bytes otherwise.
    public func sealPayload(_ payload: Data) throws -> (data: Data, encrypted: Bool) {
        guard encryptPayloads, let fernet else { return (payload, false) }
        return (Data(try fernet.encrypt(payload).utf8), true)
    }

    /// A stored payload in clear.
    public func openPayload(_ data: Data, encrypted: Bool) throws -> Data {
        guard encrypted else { return data }
        guard let fernet else { throw Fernet.Failure.invalidKey }
        return try fernet.decrypt(String(decoding: data, as: UTF8.self))
    }
}
