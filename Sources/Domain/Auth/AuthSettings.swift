/// The knobs of login and refresh, with the original system's values as defaults.
public struct AuthSettings: Sendable {
    /// Access token lifetime (30 minutes).
    public var accessLifetime: Int64 = 30 * 60
    /// Refresh token lifetime (1 day).
    public var refreshLifetime: Int64 = 24 * 3600
    /// Absolute lifetime of a refresh-token family, so a session cannot slide forever (30 days).
    public var familyLifetime: Int64 = 30 * 24 * 3600
    /// Failed logins allowed per window for one username from one client address (5): see ``LoginLimits``.
    public var maxFailures: Int = 5
    /// Failed logins allowed per window from one client address across usernames (50: password spraying).
    public var maxFailuresPerAddress: Int = 50
    /// Failed logins allowed per window for one username across addresses (100: a distributed guess).
    public var maxFailuresPerUsername: Int = 100
    /// The failure window (15 minutes).
    public var failureWindow: Int64 = 15 * 60
    /// PBKDF2 iterations for new hashes (1,200,000, Django 6.0's).
    public var hashIterations: Int = 1_200_000
    /// Largest login, refresh, revoke or verify body read (8 KiB: credentials and tokens are a few hundred bytes).
    public var maxBodyBytes: Int = 8 * 1024
    /// One request in this many also prunes expired rows (bounded batch).
    public var pruneEvery: Int = 50

    /// The defaults.
    public init() {}
}
