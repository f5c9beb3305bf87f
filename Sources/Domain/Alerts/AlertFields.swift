import Foundation
import Primitives

/// An alert's subject, recipients and links: stored as one Fernet token of their JSON in `REAL_DATA_MODE` (a
/// subject can name a patient, an address a person), in their own columns otherwise.
public struct AlertFields: Sendable, Equatable, Codable {
    public var subject: String
    public var recipients: [String]
    public var links: [String]

    /// Creates a value from its fields.
    public init(subject: String, recipients: [String], links: [String]) {
        self.subject = subject
        self.recipients = recipients
        self.links = links
    }

    /// The token to store, or nil when payloads are stored in clear.
    public func sealed(with encryption: FieldEncryption) throws -> Data? {
        guard encryption.encryptPayloads else { return nil }
        let sealed = try encryption.sealPayload(try JSONEncoder.stable.encode(self))
        return sealed.encrypted ? sealed.data : nil
    }

    /// The fields from their stored token.
    public static func opened(_ token: Data, with encryption: FieldEncryption) throws -> AlertFields {
        try JSONDecoder().decode(AlertFields.self, from: try encryption.openPayload(token, encrypted: true))
    }
}
