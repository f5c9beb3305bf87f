import Foundation

/// One entry of the audit trail: who did what, when, from where. Never a password or a token.
public struct AuditEvent: Sendable, Equatable {
    /// What happened, for example `login`, `refresh`, `refresh_reuse`, `revoke`, `user_create`.
    public var action: String
    /// How it ended, for example `success`, `failure`, `throttled`.
    public var outcome: String
    /// The user concerned, when known.
    public var userID: Int64?
    /// The username given or concerned (cut to 150 characters, Django's maximum).
    public var username: String?
    /// Who acted, for admin commands (the operating-system user).
    public var actor: String?
    /// The request id, for correlation with the logs.
    public var requestID: String?
    /// The client address.
    public var clientAddress: String?
    /// Extra facts: approved keys and non-sensitive values only.
    public var detail: [String: String]

    /// Creates an event.
    public init(
        action: String,
        outcome: String,
        userID: Int64? = nil,
        username: String? = nil,
        actor: String? = nil,
        requestID: String? = nil,
        clientAddress: String? = nil,
        detail: [String: String] = [:]
    ) {
        self.action = action
        self.outcome = outcome
        self.userID = userID
        // PostgreSQL text cannot hold NUL; hostile input must still be recorded.
        self.username = username.map { String($0.replacingOccurrences(of: "\u{0}", with: "").prefix(150)) }
        self.actor = actor
        self.requestID = requestID
        self.clientAddress = clientAddress.map { String($0.replacingOccurrences(of: "\u{0}", with: "").prefix(64)) }
        self.detail = detail
    }
}
