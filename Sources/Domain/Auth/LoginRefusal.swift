/// Why a login gets no tokens.
public enum LoginRefusal: Error, Sendable, Equatable {
    /// Wrong password, unknown or inactive user: one generic answer for all three.
    case invalidCredentials
    /// Over the brute-force limit: try again after this many seconds.
    case throttled(retryAfter: Int64)
}
