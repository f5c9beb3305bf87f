import Foundation

/// An incoming webhook partner: where its events come in and how they are signed.
public struct WebhookSource: Sendable, Equatable {
    /// How a source signs its requests.
    public enum Scheme: String, Sendable, Equatable, CaseIterable {
        /// Standard Webhooks headers, with the ±5 min timestamp check.
        case standard
        /// The original system's `X-Signature` (hex HMAC-SHA256 of the raw body, `sha256=` allowed).
        case hmacSHA256 = "hmac-sha256"
    }

    /// Row id.
    public var id: Int64
    /// The path segment partners post to: `POST /<slug>`.
    public var slug: String
    /// The signature scheme.
    public var scheme: Scheme
    /// The current secret, in clear.
    public var secret: String
    /// The previous secret during a rotation's overlap window, in clear.
    public var previousSecret: String?
    /// When the previous secret stops being accepted.
    public var previousSecretUntil: Date?
    /// Event types this source may send; empty allows every type.
    public var allowedEventTypes: [String]
    /// Disabled sources answer 404.
    public var enabled: Bool
    /// Whether an enabled consumer takes this source's events (when it was read).
    public var hasConsumers: Bool

    /// Creates a value from its fields.
    public init(
        id: Int64, slug: String, scheme: Scheme, secret: String, previousSecret: String? = nil, previousSecretUntil: Date? = nil,
        allowedEventTypes: [String], enabled: Bool, hasConsumers: Bool = false
    ) {
        self.id = id
        self.slug = slug
        self.scheme = scheme
        self.secret = secret
        self.previousSecret = previousSecret
        self.previousSecretUntil = previousSecretUntil
        self.allowedEventTypes = allowedEventTypes
        self.enabled = enabled
        self.hasConsumers = hasConsumers
    }

    /// The secrets that verify a request at `now`.
    public func activeSecrets(at now: Date) -> [String] {
        var secrets = [secret]
        if let previousSecret, let until = previousSecretUntil, until > now { secrets.append(previousSecret) }
        return secrets
    }

    /// Whether this source may send `eventType`.
    public func allows(_ eventType: String?) -> Bool {
        guard !allowedEventTypes.isEmpty else { return true }
        guard let eventType else { return false }
        return EventTypeFilter.matches(eventType, filters: allowedEventTypes)
    }
}

/// Event-type filters: exact names and `prefix.*` wildcards.
public enum EventTypeFilter {
    /// True when `type` matches one of `filters` (`*` matches everything).
    public static func matches(_ type: String, filters: [String]) -> Bool {
        filters.contains { filter in
            if filter == "*" { return true }
            if filter.hasSuffix(".*") { return type.hasPrefix(String(filter.dropLast(1))) }
            return filter == type
        }
    }

    /// True when a filter is well formed: dotted names of `[A-Za-z0-9_-]`, optionally ending in `.*`, or `*`.
    public static func isValid(_ filter: String) -> Bool {
        if filter == "*" { return true }
        let body = filter.hasSuffix(".*") ? String(filter.dropLast(2)) : filter
        return !body.isEmpty && body.utf8.count <= 200
            && body.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
                !part.isEmpty && part.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 }
            }
    }
}
