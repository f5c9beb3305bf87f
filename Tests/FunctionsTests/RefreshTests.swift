import Domain
import Foundation
import PostgresNIO
import Primitives
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions

@Suite("refresh and revoke: single-use rotation, reuse detection, the replaced system's tokens")
struct RefreshTests {
    static let blacklisted = #"{"detail":"Token is blacklisted","code":"token_not_valid"}"#
    static let invalid = #"{"detail":"Token is invalid or expired","code":"token_not_valid"}"#

    func withHarness(settings: AuthSettings = .testing, _ body: @escaping @Sendable (AuthHarness) async throws -> Void) async throws {
        try await TestDatabase.with(suite: "refresh") { database in try await body(try AuthHarness(database: database, settings: settings)) }
    }

    @Test("a refresh rotates: new {access, refresh}; the used token is then blacklisted and its successor revoked too")
    func rotationAndReuse() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let first = try await harness.tokens(for: user)
            let rotated = await harness.refresh(first.refresh)
            #expect(rotated.status == .ok)
            #expect(rotated.text.hasPrefix(#"{"access":"#))
            let second = try #require(rotated.json["refresh"] as? String)
            let replay = await harness.refresh(first.refresh)
            #expect(replay.status == .unauthorized)
            #expect(replay.text == Self.blacklisted)
            #expect(replay.headers[.wwwAuthenticate] == #"Bearer realm="api""#)
            // RFC 9700 §4.14.2: the reuse revoked the whole family, so the successor is dead as well.
            #expect(await harness.refresh(second).text == Self.blacklisted)
        }
    }

    @Test("of many parallel refreshes of one token, exactly one succeeds")
    func parallelRefresh() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let token = try await harness.tokens(for: user).refresh
            let statuses = await withTaskGroup(of: Int.self) { group in
                for _ in 0..<16 { group.addTask { Int(await harness.refresh(token).status.code) } }
                var all: [Int] = []
                for await status in group { all.append(status) }
                return all
            }
            let outcomes = try await harness.auditEvents().filter { $0.userID == user.id && $0.action == "refresh" }.map(\.outcome)
            #expect(statuses.filter { $0 == 200 }.count == 1, "\(outcomes)")
            #expect(statuses.filter { $0 == 401 }.count == 15)
        }
    }

    @Test("an inactive or deleted user cannot refresh")
    func inactiveUser() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let token = try await harness.tokens(for: user).refresh
            try await harness.database.withConnection { connection in
                _ = try await UserStore.setActive(username: user.username, false, on: connection, logger: TestDatabase.quietLogger)
            }
            let refused = await harness.refresh(token)
            #expect(refused.status == .unauthorized)
            #expect(refused.text == #"{"detail":"No active account found for the given token.","code":"no_active_account"}"#)
            let other = try await harness.makeUser()
            let otherToken = try await harness.tokens(for: other).refresh
            try await harness.database.withConnection { connection in
                try await connection.query("DELETE FROM users WHERE id = \(other.id)", logger: TestDatabase.quietLogger)
            }
            #expect(await harness.refresh(otherToken).status == .unauthorized)
        }
    }

    @Test("simplejwt's refusals: access token, no type, no jti (401, not 500), expired, alg none, HS512, tampered, garbage")
    func refusals() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let tokens = try await harness.tokens(for: user)
            let wrongType = await harness.refresh(tokens.access)
            #expect(wrongType.text == #"{"detail":"Token has wrong type","code":"token_not_valid"}"#)
            let signer = JWTSigner(secretKey: testSecretKey)
            let noType = await harness.refresh(signer.signRaw(#"{"exp":4102444800,"iat":1,"jti":"abc","user_id":\#(user.id)}"#))
            #expect(noType.text == #"{"detail":"Token has no type","code":"token_not_valid"}"#)
            let noJTI = await harness.refresh(signer.signRaw(#"{"token_type":"refresh","exp":4102444800,"iat":1,"user_id":\#(user.id)}"#))
            #expect(noJTI.status == .unauthorized)
            #expect(noJTI.text == #"{"detail":"Token has no id","code":"token_not_valid"}"#)
            var parts = tokens.refresh.split(separator: ".").map(String.init)
            parts[1] = Base64URL.encode(Data(#"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"x","user_id":1}"#.utf8))
            for token in [JWTFixtures.algNone, JWTFixtures.hs512, parts.joined(separator: "."), "garbage", String(repeating: "x", count: 20_000)] {
                let response = await harness.refresh(token)
                #expect(response.status == .unauthorized)
                #expect(response.text == Self.invalid)
            }
            harness.clock.advance(seconds: 86_401)
            #expect(await harness.refresh(tokens.refresh).text == Self.invalid)
            #expect(await harness.post("refresh", json: "{}").text == #"{"refresh":["This field is required."]}"#)
            #expect(await harness.post("refresh", json: #"{"refresh":12345678901234567890}"#).status == .unauthorized)
        }
    }

    @Test("a token signed by the replaced system is accepted once and starts a tracked family")
    func legacyToken() async throws {
        // Its own database: the fixtures need user id 7, which must not collide with other tests' users.
        try await TestDatabase.with(suite: "refresh-legacy") { database in
            let harness = try AuthHarness(database: database)
            // The fixtures carry user_id 7 (int and string): make sure user 7 exists and is active.
            try await harness.database.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO users (id, username, password, date_joined) VALUES (7, 'legacy-seven', '!', now())
                    ON CONFLICT (id) DO UPDATE SET is_active = true
                    """,
                    logger: TestDatabase.quietLogger
                )
                try await UserStore.resetIDSequence(on: connection, logger: TestDatabase.quietLogger)
            }
            let first = await harness.refresh(JWTFixtures.integerUserID)
            #expect(first.status == .ok)
            let successor = try #require(first.json["refresh"] as? String)
            #expect(await harness.refresh(JWTFixtures.integerUserID).text == Self.blacklisted)
            #expect(await harness.refresh(successor).text == Self.blacklisted)
            let stringID = await harness.refresh(JWTFixtures.stringUserID)
            #expect(stringID.status == .ok)
            let claims = try JWTSigner(secretKey: testSecretKey).verify(
                try #require(stringID.json["refresh"] as? String), expecting: .refresh, now: harness.clock.clock.unixSeconds()
            )
            #expect(claims.userID == 7 && claims.userIDIsString)
        }
    }

    @Test("a legacy token listed in the old system's token_blacklist tables is refused")
    func legacyBlacklist() async throws {
        try await TestDatabase.with(suite: "refresh-legacy-blacklist") { database in
            let harness = try AuthHarness(database: database)
            let user = try await harness.makeUser()
            let signer = JWTSigner(secretKey: testSecretKey)
            let now = harness.clock.clock.unixSeconds()
            let listed = signer.sign(TokenClaims(type: .refresh, expiresAt: now + 3600, issuedAt: now, jti: "11112222333344445555666677778888", userID: user.id))
            let unlisted = signer.sign(TokenClaims(type: .refresh, expiresAt: now + 3600, issuedAt: now, jti: "99990000aaaabbbbccccddddeeeeffff", userID: user.id))
            try await database.withConnection { connection in
                let logger = TestDatabase.quietLogger
                try await connection.query(
                    "CREATE TABLE token_blacklist_outstandingtoken (id bigserial PRIMARY KEY, jti varchar(255) UNIQUE NOT NULL, token text NOT NULL, created_at timestamptz, expires_at timestamptz NOT NULL, user_id integer)",
                    logger: logger
                )
                try await connection.query(
                    "CREATE TABLE token_blacklist_blacklistedtoken (id bigserial PRIMARY KEY, blacklisted_at timestamptz NOT NULL, token_id bigint UNIQUE NOT NULL REFERENCES token_blacklist_outstandingtoken(id))",
                    logger: logger
                )
                try await connection.query(
                    "INSERT INTO token_blacklist_outstandingtoken (jti, token, expires_at) VALUES ('11112222333344445555666677778888', 'x', now() + interval '1 day'), ('99990000aaaabbbbccccddddeeeeffff', 'y', now() + interval '1 day')",
                    logger: logger
                )
                try await connection.query(
                    "INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id) SELECT now(), id FROM token_blacklist_outstandingtoken WHERE jti = '11112222333344445555666677778888'",
                    logger: logger
                )
            }
            #expect(await harness.refresh(listed).text == Self.blacklisted)
            #expect(await harness.refresh(unlisted).status == .ok)
        }
    }

    @Test("a family has an absolute lifetime: rotation cannot slide a session forever")
    func familyLifetime() async throws {
        var settings = AuthSettings.testing
        settings.familyLifetime = 2 * 86_400
        try await withHarness(settings: settings) { harness in
            let user = try await harness.makeUser()
            var token = try await harness.tokens(for: user).refresh
            for _ in 0..<2 {
                harness.clock.advance(seconds: 86_000)
                let response = await harness.refresh(token)
                #expect(response.status == .ok)
                token = try #require(response.json["refresh"] as? String)
            }
            harness.clock.advance(seconds: 86_000)
            #expect(await harness.refresh(token).text == Self.invalid)
        }
    }

    @Test("revoke logs out the whole family; tokens are stored as ids and hashes, never in clear")
    func revoke() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let first = try await harness.tokens(for: user)
            let second = try #require(await harness.refresh(first.refresh).json["refresh"] as? String)
            let revoked = await harness.post("refresh", "/revoke", json: #"{"refresh":\#(JSONText.quoted(first.refresh))}"#)
            #expect(revoked.status == .ok)
            #expect(revoked.text == "{}")
            #expect(await harness.refresh(second).text == Self.blacklisted)
            #expect(await harness.post("refresh", "/revoke", json: #"{"refresh":"nope"}"#).status == .unauthorized)
            let stored = try await harness.tableText("refresh_tokens")
            for token in [first.refresh, second] {
                #expect(!stored.contains(token) && !stored.contains(String(token.split(separator: ".")[2])))
            }
        }
    }

    @Test("expired rows are pruned by the functions themselves")
    func prune() async throws {
        // Its own database: pruning at a future time must not touch other tests' tokens.
        try await TestDatabase.with(suite: "refresh-prune") { database in
            let harness = try AuthHarness(database: database)
            let user = try await harness.makeUser()
            let token = try await harness.tokens(for: user).refresh
            let jti = try JWTSigner(secretKey: testSecretKey).verify(token, expecting: .refresh, now: harness.clock.clock.unixSeconds()).jti!
            try await harness.auth.prune(now: harness.clock.now.addingTimeInterval(86_401), logger: TestDatabase.quietLogger)
            let remaining = try await harness.database.withConnection { connection in
                var count = 0
                for try await _ in try await connection.query("SELECT 1 FROM refresh_tokens WHERE jti = \(jti)", logger: TestDatabase.quietLogger) {
                    count += 1
                }
                return count
            }
            #expect(remaining == 0)
        }
    }

    @Test("refresh, reuse and revoke are audited and counted")
    func audited() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let token = try await harness.tokens(for: user).refresh
            _ = await harness.refresh(token)
            _ = await harness.refresh(token)
            let events = try await harness.auditEvents().filter { $0.userID == user.id }
            #expect(events.contains { $0.action == "refresh" && $0.outcome == "success" }, "\(events)")
            #expect(events.contains { $0.action == "refresh" && $0.outcome == "reuse_detected" })
        }
    }
}
