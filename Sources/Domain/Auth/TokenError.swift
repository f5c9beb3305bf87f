/// Why a JWT is refused, with simplejwt's exact wording (every case is a 401 `token_not_valid`).
public enum TokenError: Error, Sendable, Equatable {
    /// Malformed, bad signature, another algorithm, or expired.
    case invalidOrExpired
    /// The `token_type` claim is missing.
    case noType
    /// The `token_type` claim is not the one expected.
    case wrongType
    /// The `jti` claim is missing (the original answered 500 here).
    case noID
    /// The token was already used (rotated) or its family was revoked.
    case blacklisted

    /// simplejwt's message.
    public var detail: String {
        switch self {
        case .invalidOrExpired: return "Token is invalid or expired"
        case .noType: return "Token has no type"
        case .wrongType: return "Token has wrong type"
        case .noID: return "Token has no id"
        case .blacklisted: return "Token is blacklisted"
        }
    }
}
