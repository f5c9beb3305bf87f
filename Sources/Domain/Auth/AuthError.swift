/// Auth outcomes that are not token errors.
public enum AuthError: Error, Sendable, Equatable {
    /// The user behind a token is inactive or gone (simplejwt 5.4+: "No active account found for the given token.").
    case noActiveAccount
    /// A user with that username exists.
    case usernameTaken
    /// No user has that username.
    case unknownUser
    /// Not a username Django's `UnicodeUsernameValidator` accepts (letters, digits and @ . + - _, at most 150).
    case invalidUsername
    /// The password breaks the policy; Django's messages, all of them.
    case weakPassword([String])
}
