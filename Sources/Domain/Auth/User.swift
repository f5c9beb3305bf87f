import Foundation

/// A user as the auth functions need it (Django's `auth_user` columns that matter here).
public struct User: Sendable, Equatable {
    /// The id (Django's ids are kept on import, so old tokens' `user_id` still match).
    public var id: Int64
    /// The username, matched exactly (case-sensitive).
    public var username: String
    /// The email address (never logged).
    public var email: String
    /// The Django-format password hash.
    public var passwordHash: String
    /// Inactive users cannot log in or refresh.
    public var isActive: Bool
    /// Staff flag, kept from Django.
    public var isStaff: Bool
    /// When the user was created.
    public var dateJoined: Date
    /// The last successful login.
    public var lastLogin: Date?
    /// When a password change or deactivation last ended the user's sessions: tokens issued before it are refused.
    public var sessionsRevokedAt: Date?

    /// Creates a user value from its columns.
    public init(
        id: Int64, username: String, email: String, passwordHash: String, isActive: Bool, isStaff: Bool, dateJoined: Date,
        lastLogin: Date? = nil, sessionsRevokedAt: Date? = nil
    ) {
        self.id = id
        self.username = username
        self.email = email
        self.passwordHash = passwordHash
        self.isActive = isActive
        self.isStaff = isStaff
        self.dateJoined = dateJoined
        self.lastLogin = lastLogin
        self.sessionsRevokedAt = sessionsRevokedAt
    }

    /// Django's `UnicodeUsernameValidator` (`^[\w.@+-]+\Z`) and its 150-character limit: letters and digits of any
    /// script, `_`, `.`, `@`, `+`, `-`; no space, no control character, no line break.
    public static func isValidUsername(_ username: String) -> Bool {
        guard !username.isEmpty, username.count <= 150 else { return false }
        // Python's \w: what str.isalnum() takes (letters, L*; numbers, any numeric type), and `_`.
        return username.unicodeScalars.allSatisfy { scalar in
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
            default: return scalar.properties.numericType != nil || "_.@+-".unicodeScalars.contains(scalar)
            }
        }
    }

    /// Whether a token issued at `issuedAt` (Unix seconds) predates the end of the user's sessions. Token times
    /// are whole seconds: a token from the very second of the change is let through.
    public func sessionsEnded(after issuedAt: Int64?) -> Bool {
        guard let sessionsRevokedAt else { return false }
        return Int64(sessionsRevokedAt.timeIntervalSince1970.rounded(.down)) > (issuedAt ?? 0)
    }
}
