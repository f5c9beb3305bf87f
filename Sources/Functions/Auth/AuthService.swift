import Domain
import Foundation
public import Logging
import PostgresNIO
import Primitives
import Runtime
import Store

/// Login, refresh and revoke: the rules of the replaced simplejwt system, without its weaknesses.
///
/// Dependencies come in through `init`; per-call facts (request id, client address, logger) through the
/// calls. Every outcome is audited and counted in the same transaction as the change it records.
public struct AuthService: Sendable {
    /// A pair of tokens as the functions return them.
    public struct Tokens: Sendable, Equatable {
        /// The refresh token.
        public var refresh: String
        /// The access token.
        public var access: String
    }

    /// How a login ended.
    public enum LoginOutcome: Sendable, Equatable {
        /// Credentials good: a new token family.
        case success(Tokens)
        /// Wrong password, unknown or inactive user: one generic answer.
        case invalidCredentials
        /// Over the brute-force limit; no hash was computed.
        case throttled(retryAfter: Int64)
    }

    /// Facts about the caller, for the audit trail and the rate limit.
    public struct Caller: Sendable {
        /// The request id.
        public var requestID: String?
        /// The client address, as far as the proxies in front are trusted (`TRUSTED_PROXY_HOPS`).
        public var address: String?

        /// Creates caller facts.
        public init(requestID: String?, address: String?) {
            self.requestID = requestID
            self.address = address
        }
    }

    let database: Database
    let settings: AuthSettings
    let signer: JWTSigner
    let hasher: DjangoPasswordHasher
    let clock: WallClock
    let work: PasswordWork

    /// Creates the service.
    public init(
        database: Database,
        secretKey: String,
        settings: AuthSettings = AuthSettings(),
        es256: ES256Keys? = nil,
        acceptHS256Until: Int64? = nil,
        clock: WallClock = .system,
        work: PasswordWork = .shared
    ) {
        self.database = database
        self.settings = settings
        self.signer = JWTSigner(secretKey: secretKey, es256: es256, acceptHS256Until: acceptHS256Until)
        self.hasher = DjangoPasswordHasher(iterations: settings.hashIterations)
        self.clock = clock
        self.work = work
    }

    // MARK: Login

    /// Checks credentials under the brute-force limit and, when they hold, starts a token family.
    public func login(username: String, password: String, caller: Caller, logger: Logger) async throws -> LoginOutcome {
        let now = clock.now()
        let settings = self.settings
        enum Step: Sendable { case throttled(Int64), checking([Int64], User?) }
        let step: Step = try await database.withTransaction { connection in
            switch try await LoginThrottle.reserve(
                username: username, address: caller.address, settings: settings, now: now, on: connection, logger: logger
            ) {
            case .throttled(let retryAfter):
                // Counted per address and minute: a throttled caller can send as many as it likes.
                try await AuditLog.countRefusal(
                    AuditEvent(action: "login", outcome: "throttled", requestID: caller.requestID, clientAddress: caller.address),
                    source: caller.address ?? "unknown", at: now, on: connection, logger: logger
                )
                try await Counters.increment("auth_login_total", labels: ["outcome": "throttled"], on: connection, logger: logger)
                return .throttled(retryAfter)
            case .reserved(let ids):
                return .checking(ids, try await UserStore.find(username: username, on: connection, logger: logger))
            }
        }
        guard case .checking(let reservation, let user) = step else {
            if case .throttled(let retryAfter) = step { return .throttled(retryAfter: retryAfter) }
            return .invalidCredentials
        }
        let hasher = self.hasher
        let verification: DjangoPasswordHasher.Verification = try await work.run {
            guard let user else {
                return .init(matches: false, needsRehash: false, iterationsSpent: hasher.burnOneHash(password))
            }
            return hasher.verify(password, against: user.passwordHash)
        }
        guard let user, user.isActive, verification.matches else {
            let reason = user == nil ? "unknown_user" : (user!.isActive ? "bad_password" : "inactive")
            try await database.withTransaction { connection in
                try await AuditLog.record(
                    AuditEvent(
                        action: "login", outcome: "failure", userID: user?.id, username: username, requestID: caller.requestID,
                        clientAddress: caller.address, detail: ["reason": reason]
                    ),
                    at: now, on: connection, logger: logger
                )
                try await Counters.increment("auth_login_total", labels: ["outcome": "failure"], on: connection, logger: logger)
            }
            return .invalidCredentials
        }
        let newHash: String? = verification.needsRehash ? try await work.run { hasher.hash(password) } : nil
        let tokens = try await database.withTransaction { [self] connection in
            try await LoginThrottle.release(
                ids: reservation, username: username, address: caller.address, settings: settings, on: connection, logger: logger
            )
            try await UserStore.recordLogin(id: user.id, at: now, newHash: newHash, on: connection, logger: logger)
            let familyExpiry = now.addingTimeInterval(Double(settings.familyLifetime))
            let family = try await RefreshTokenStore.createFamily(
                userID: user.id, origin: "login", now: now, expiresAt: familyExpiry, on: connection, logger: logger
            )
            let tokens = try issue(userID: user.id, userIDIsString: false, now: now)
            _ = try await RefreshTokenStore.insert(
                jti: tokens.refreshJTI, familyID: family, token: tokens.pair.refresh, issuedAt: now,
                expiresAt: tokens.refreshExpiry, on: connection, logger: logger
            )
            try await AuditLog.record(
                AuditEvent(
                    action: "login", outcome: "success", userID: user.id, username: username, requestID: caller.requestID,
                    clientAddress: caller.address, detail: newHash == nil ? [:] : ["rehashed": "true"]
                ),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_login_total", labels: ["outcome": "success"], on: connection, logger: logger)
            return tokens.pair
        }
        await pruneSometimes(now: now, logger: logger)
        return .success(tokens)
    }

    // MARK: Revoke

    /// Logs out: revokes the whole family of a refresh token (a legacy token is recorded as used and revoked).
    public func revoke(_ token: String, caller: Caller, logger: Logger) async throws {
        let now = clock.now()
        let claims = try signer.verify(token, expecting: .refresh, now: clock.unixSeconds())
        guard let jti = claims.jti, let userID = claims.userID else { throw TokenError.invalidOrExpired }
        let presentedExpiry = Date(timeIntervalSince1970: Double(claims.expiresAt ?? 0))
        try await database.withTransaction { connection in
            switch try await RefreshTokenStore.state(jti: jti, token: token, now: now, on: connection, logger: logger) {
            case .used(let family), .userInactive(let family), .current(let family):
                try await RefreshTokenStore.revokeFamily(family, reason: "logout", now: now, on: connection, logger: logger)
            case .revoked, .familyExpired, .mismatch:
                break
            case .unknown:
                let family = try await RefreshTokenStore.createFamily(
                    userID: userID, origin: "legacy", now: now, expiresAt: presentedExpiry, on: connection, logger: logger
                )
                _ = try await RefreshTokenStore.insert(
                    jti: jti, familyID: family, token: token, issuedAt: now, expiresAt: presentedExpiry, usedAt: now,
                    on: connection, logger: logger
                )
                try await RefreshTokenStore.revokeFamily(family, reason: "logout", now: now, on: connection, logger: logger)
            }
            try await AuditLog.record(
                AuditEvent(action: "revoke", outcome: "success", userID: userID, requestID: caller.requestID, clientAddress: caller.address),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_revoke_total", labels: ["outcome": "success"], on: connection, logger: logger)
        }
    }

    // MARK: Verify

    /// simplejwt's `TokenVerifyView`: is this token (access or refresh) good? Signature, algorithm, `exp`, `iat` and
    /// `jti` as simplejwt checks them, and beyond it what this store knows: a refresh token that was used or whose
    /// family was revoked is blacklisted, and any token of an inactive or unknown user, or issued before a password
    /// change ended the user's sessions, is refused. Reads only: nothing is locked, changed or audited.
    public func verify(_ token: String, logger: Logger) async throws {
        let now = clock.now()
        let claims = try signer.verify(token, expecting: nil, now: clock.unixSeconds())
        guard let jti = claims.jti else { throw TokenError.noID }
        guard let userID = claims.userID else { return }
        let isRefresh = claims.tokenType == TokenClaims.TokenType.refresh.rawValue
        try await database.withConnection { connection in
            if isRefresh {
                switch try await RefreshTokenStore.state(jti: jti, token: token, now: now, lock: false, on: connection, logger: logger) {
                case .used, .revoked, .mismatch: throw TokenError.blacklisted
                case .familyExpired: throw TokenError.invalidOrExpired
                case .userInactive: throw AuthError.noActiveAccount
                case .current: break
                case .unknown:
                    if try await RefreshTokenStore.legacyBlacklisted(jti: jti, on: connection, logger: logger) { throw TokenError.blacklisted }
                }
            }
            guard let user = try await UserStore.find(id: userID, on: connection, logger: logger), user.isActive else {
                throw AuthError.noActiveAccount
            }
            if user.sessionsEnded(after: claims.issuedAt) { throw TokenError.blacklisted }
        }
    }

    // MARK: Helpers

    struct Issued: Sendable {
        var pair: Tokens
        var refreshJTI: String
        /// The refresh token's `exp`: its row is kept until then.
        var refreshExpiry: Date
    }

    func issue(userID: Int64, userIDIsString: Bool, now: Date) throws -> Issued {
        let issuedAt = Int64(now.timeIntervalSince1970.rounded(.down))
        let refreshJTI = TokenClaims.newJTI()
        let refresh = try signer.sign(
            TokenClaims(
                type: .refresh, expiresAt: issuedAt + settings.refreshLifetime, issuedAt: issuedAt, jti: refreshJTI,
                userID: userID, userIDIsString: userIDIsString
            )
        )
        let access = try signer.sign(
            TokenClaims(
                type: .access, expiresAt: issuedAt + settings.accessLifetime, issuedAt: issuedAt, jti: TokenClaims.newJTI(),
                userID: userID, userIDIsString: userIDIsString
            )
        )
        return Issued(
            pair: Tokens(refresh: refresh, access: access), refreshJTI: refreshJTI,
            refreshExpiry: Date(timeIntervalSince1970: Double(issuedAt + settings.refreshLifetime))
        )
    }

    /// Prunes expired rows on a small share of requests: the functions keep their own tables tidy, no cron.
    func pruneSometimes(now: Date, logger: Logger) async {
        var random = SamplingRandom()
        guard settings.pruneEvery > 0, Int.random(in: 0..<settings.pruneEvery, using: &random) == 0 else { return }
        try? await prune(now: now, logger: logger)
    }

    /// Prunes one bounded batch of expired rows now.
    public func prune(now: Date, logger: Logger) async throws {
        let window = settings.failureWindow
        try await database.withConnection { connection in
            try await RefreshTokenStore.prune(now: now, failureWindow: window, on: connection, logger: logger)
        }
    }
}
