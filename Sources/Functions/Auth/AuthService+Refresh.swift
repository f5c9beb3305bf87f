import Domain
import Foundation
public import Logging
import PostgresNIO
import Store

extension AuthService {
    /// Rotates a refresh token: exactly one use; a second use revokes the whole family.
    public func refresh(_ token: String, caller: Caller, logger: Logger) async throws -> Tokens {
        let now = clock.now()
        let claims = try signer.verify(token, expecting: .refresh, now: clock.unixSeconds())
        guard let jti = claims.jti, let userID = claims.userID else { throw TokenError.invalidOrExpired }
        let successor = try issue(userID: userID, userIDIsString: claims.userIDIsString, now: now)
        let successorExpiry = successor.refreshExpiry
        let presentedExpiry = Date(timeIntervalSince1970: Double(claims.expiresAt ?? 0))
        let settings = self.settings
        let rotated = try await database.withConnection { connection in
            try await RefreshTokenStore.rotate(
                jti: jti, token: token, successorJTI: successor.refreshJTI, successor: successor.pair.refresh,
                successorExpiresAt: successorExpiry, now: now, requestID: caller.requestID, clientAddress: caller.address,
                on: connection, logger: logger
            )
        }
        if rotated != nil {
            await pruneSometimes(now: now, logger: logger)
            return successor.pair
        }
        enum Result: Sendable { case accepted, failed(any Error & Sendable) }
        let result: Result = try await database.withTransaction { connection in
            let (outcome, failure) = try await Self.refuse(
                jti: jti, token: token, userID: userID, presentedExpiry: presentedExpiry, issuedAt: claims.issuedAt, successor: successor,
                settings: settings, now: now, on: connection, logger: logger
            )
            try await AuditLog.record(
                AuditEvent(action: "refresh", outcome: outcome, userID: userID, requestID: caller.requestID, clientAddress: caller.address),
                at: now, on: connection, logger: logger
            )
            try await Counters.increment("auth_refresh_total", labels: ["outcome": outcome], on: connection, logger: logger)
            return failure.map { .failed($0) } ?? .accepted
        }
        if case .failed(let error) = result {
            if (error as? TokenError) == .blacklisted { logger.warning("refresh token reuse detected; family revoked") }
            throw error
        }
        await pruneSometimes(now: now, logger: logger)
        return successor.pair
    }

    /// The slow path: a legacy token accepted once, or a refusal (recorded, with the family revoked on reuse).
    /// Returns the outcome label and the error to answer with (nil when the legacy token was accepted).
    private static func refuse(
        jti: String,
        token: String,
        userID: Int64,
        presentedExpiry: Date,
        issuedAt: Int64?,
        successor: Issued,
        settings: AuthSettings,
        now: Date,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> (String, (any Error & Sendable)?) {
        switch try await RefreshTokenStore.state(jti: jti, token: token, now: now, on: connection, logger: logger) {
        case .used(let family), .current(let family):
            // Current: a parallel refresh of this token won the rotation a moment ago; this one is a reuse.
            try await RefreshTokenStore.revokeFamily(family, reason: "reuse", now: now, on: connection, logger: logger)
            return ("reuse_detected", TokenError.blacklisted)
        case .revoked, .mismatch:
            return ("blacklisted", TokenError.blacklisted)
        case .familyExpired:
            return ("family_expired", TokenError.invalidOrExpired)
        case .userInactive(let family):
            try await RefreshTokenStore.revokeFamily(family, reason: "user_inactive", now: now, on: connection, logger: logger)
            return ("inactive_user", AuthError.noActiveAccount)
        case .unknown:
            // Issued by the replaced system with the same key: accepted once, unless its blacklist lists it.
            if try await RefreshTokenStore.legacyBlacklisted(jti: jti, on: connection, logger: logger) {
                return ("blacklisted", TokenError.blacklisted)
            }
            guard let user = try await UserStore.find(id: userID, on: connection, logger: logger), user.isActive else {
                return ("inactive_user", AuthError.noActiveAccount)
            }
            // Issued before a password change or deactivation ended the user's sessions.
            if user.sessionsEnded(after: issuedAt) { return ("sessions_ended", TokenError.blacklisted) }
            let familyExpiry = now.addingTimeInterval(Double(settings.familyLifetime))
            let family = try await RefreshTokenStore.createFamily(
                userID: userID, origin: "legacy", now: now, expiresAt: familyExpiry, on: connection, logger: logger
            )
            guard try await RefreshTokenStore.insert(
                jti: jti, familyID: family, token: token, issuedAt: now, expiresAt: presentedExpiry, usedAt: now, on: connection, logger: logger
            ) else {
                // Another request accepted this legacy token first: this one is a reuse.
                return ("reuse_detected", TokenError.blacklisted)
            }
            _ = try await RefreshTokenStore.insert(
                jti: successor.refreshJTI, familyID: family, token: successor.pair.refresh, issuedAt: now,
                expiresAt: successor.refreshExpiry, on: connection, logger: logger
            )
            return ("legacy_accepted", nil)
        }
    }
}
