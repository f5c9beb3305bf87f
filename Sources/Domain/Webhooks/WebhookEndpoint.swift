import Foundation

/// An outgoing subscription: where matching events are delivered, signed with its secret. A subscriber receives
/// published events; a consumer (``sourceID`` set) receives one source's accepted incoming events.
public struct WebhookEndpoint: Sendable, Equatable {
    /// Row id.
    public var id: UUID
    /// The target URL.
    public var url: String
    /// A note for operators.
    public var description: String
    /// Event-type filters (exact or `prefix.*`).
    public var eventTypes: [String]
    /// The current `whsec_` secret, in clear.
    public var secret: String
    /// The previous secret during a rotation overlap (requests are signed with both).
    public var previousSecret: String?
    /// When the previous secret stops being used.
    public var previousSecretUntil: Date?
    /// Disabled endpoints receive nothing; their deliveries wait.
    public var enabled: Bool
    /// Why it was disabled.
    public var disabledReason: String?
    /// Since when it has only failed (nil after a success).
    public var failingSince: Date?
    /// Failed attempts in a row.
    public var failureStreak: Int
    /// When set, every request carries `Authorization: Bearer <Google-signed ID token>` for this audience.
    public var idTokenAudience: String?
    /// The source whose received events this endpoint consumes; nil for a subscriber of published events.
    public var sourceID: Int64?

    /// Creates a value from its fields.
    public init(
        id: UUID, url: String, description: String, eventTypes: [String], secret: String, previousSecret: String? = nil, previousSecretUntil: Date? = nil,
        enabled: Bool, disabledReason: String? = nil, failingSince: Date? = nil, failureStreak: Int, idTokenAudience: String? = nil, sourceID: Int64? = nil
    ) {
        self.id = id
        self.url = url
        self.description = description
        self.eventTypes = eventTypes
        self.secret = secret
        self.previousSecret = previousSecret
        self.previousSecretUntil = previousSecretUntil
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.failingSince = failingSince
        self.failureStreak = failureStreak
        self.idTokenAudience = idTokenAudience
        self.sourceID = sourceID
    }

    /// The secrets to sign with at `now`.
    public func signingSecrets(at now: Date) -> [String] {
        var secrets = [secret]
        if let previousSecret, let until = previousSecretUntil, until > now { secrets.append(previousSecret) }
        return secrets
    }
}
