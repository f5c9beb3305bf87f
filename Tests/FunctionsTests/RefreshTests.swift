import Crypto
import Domain
import Foundation
import PostgresNIO
import Primitives
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions

@Suite("refresh and revoke: single-use rotation, reuse detection, the replaced system's tokens", .machineShare)
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
            let listed = try signer.sign(TokenClaims(type: .refresh, expiresAt: now + 3600, issuedAt: now, jti: "11112222333344445555666677778888", userID: user.id))
            let unlisted = try signer.sign(TokenClaims(type: .refresh, expiresAt: now + 3600, issuedAt: now, jti: "99990000aaaabbbbccccddddeeeeffff", userID: user.id))
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

    @Test("expired rows are pruned by the functions themselves, an hour after they expire")
    func prune() async throws {
        // Its own database: pruning at a future time must not touch other tests' tokens.
        try await TestDatabase.with(suite: "refresh-prune") { database in
            let harness = try AuthHarness(database: database)
            let user = try await harness.makeUser()
            let token = try await harness.tokens(for: user).refresh
            let jti = try JWTSigner(secretKey: testSecretKey).verify(token, expecting: .refresh, now: harness.clock.clock.unixSeconds()).jti!
            func remaining() async throws -> Int {
                try await harness.database.withConnection { connection in
                    var count = 0
                    for try await _ in try await connection.query("SELECT 1 FROM refresh_tokens WHERE jti = \(jti)", logger: TestDatabase.quietLogger) {
                        count += 1
                    }
                    return count
                }
            }
            // Expired, but inside the grace period: an instance whose clock runs behind may still take the token as
            // valid, and without its row would take it for the replaced system's and accept it once more.
            try await harness.auth.prune(now: harness.clock.now.addingTimeInterval(86_401), logger: TestDatabase.quietLogger)
            #expect(try await remaining() == 1)
            try await harness.auth.prune(now: harness.clock.now.addingTimeInterval(86_400 + 3601), logger: TestDatabase.quietLogger)
            #expect(try await remaining() == 0)
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

    @Test("a token issued in the future (beyond 30 s of clock leeway) is refused as simplejwt refuses it")
    func issuedInTheFuture() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let signer = JWTSigner(secretKey: testSecretKey)
            let now = harness.clock.clock.unixSeconds()
            func token(issuedAt: Int64) throws -> String {
                try signer.sign(TokenClaims(type: .refresh, expiresAt: now + 86_400, issuedAt: issuedAt, jti: TokenClaims.newJTI(), userID: user.id))
            }
            let future = try token(issuedAt: now + 3600)
            let beyondLeeway = try token(issuedAt: now + 31)
            let withinLeeway = try token(issuedAt: now + 30)
            #expect(await harness.refresh(future).text == Self.invalid)
            #expect(await harness.refresh(beyondLeeway).text == Self.invalid)
            #expect(await harness.post("refresh", "/verify", json: #"{"token":"\#(future)"}"#).text == Self.invalid)
            #expect(await harness.refresh(withinLeeway).status == .ok)
        }
    }

    @Test("any bytes in any claim of a validly signed token: 401 at worst on refresh, revoke and verify, never a 500")
    func hostileClaims() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let signer = JWTSigner(secretKey: testSecretKey)
            let hostile = [
                #""a\u0000b""#, #""\u0000""#, #""\u0001\u001f\u007f""#, #""\ud800""#, #""\udfff\ud800""#, #""\uffff\ufffe""#,
                #""line\u2028break\r\n""#, "\"" + String(repeating: "j", count: 300) + "\"", "\"" + String(repeating: "é", count: 200) + "\"",
                "null", "true", "[]", "{}", #"{"$ne":null}"#, "-1", "0", "1e400", "-1e400", "1.5", "99999999999999999999999", "\"12\"", #""""#,
            ]
            let base: [(String, String)] = [
                ("token_type", #""refresh""#), ("exp", "4102444800"), ("iat", "1700000000"), ("jti", #""\#(TokenClaims.newJTI())""#),
                ("user_id", "\(user.id)"),
            ]
            var statuses: [Int: Int] = [:]
            for claim in base.map(\.0) {
                for value in hostile {
                    let payload = "{" + base.map { name, original in "\"\(name)\":\(name == claim ? value : original)" }.joined(separator: ",") + "}"
                    let token = signer.signRaw(payload)
                    for path in ["/", "/revoke", "/verify"] {
                        let field = path == "/verify" ? "token" : "refresh"
                        let response = await harness.post("refresh", path, json: #"{"\#(field)":"\#(token)"}"#)
                        statuses[Int(response.status.code), default: 0] += 1
                        #expect(response.status.code < 500, "\(path) \(claim)=\(value) → \(response.status.code) \(response.text)")
                    }
                }
            }
            #expect(statuses[401, default: 0] > 0)
        }
    }

    @Test("POST /verify is simplejwt's TokenVerifyView: {token} → 200 {} or 401; a used or revoked refresh token is blacklisted")
    func verify() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let tokens = try await harness.tokens(for: user)
            func verify(_ token: String) async -> FunctionResponse {
                await harness.post("refresh", "/verify", json: #"{"token":\#(JSONText.quoted(token))}"#)
            }
            for token in [tokens.access, tokens.refresh] {
                let good = await verify(token)
                #expect(good.status == .ok && good.text == "{}")
            }
            // Verifying changes nothing: the refresh token still rotates once.
            let rotated = await harness.refresh(tokens.refresh)
            #expect(rotated.status == .ok)
            #expect(await verify(tokens.refresh).text == Self.blacklisted)
            let successor = try #require(rotated.json["refresh"] as? String)
            #expect(await verify(successor).status == .ok)
            for token in [JWTFixtures.algNone, JWTFixtures.hs512, "garbage", String(repeating: "x", count: 9000)] {
                #expect(await verify(token).text == Self.invalid)
            }
            let signer = JWTSigner(secretKey: testSecretKey)
            #expect(await verify(signer.signRaw(#"{"token_type":"access","exp":4102444800,"iat":1,"user_id":\#(user.id)}"#)).text
                == #"{"detail":"Token has no id","code":"token_not_valid"}"#)
            #expect(await harness.post("refresh", "/verify", json: "{}").text == #"{"token":["This field is required."]}"#)
            #expect(await harness.post("refresh", "/verify", json: #"{"token":""}"#).text == #"{"token":["This field may not be blank."]}"#)
            _ = await harness.post("refresh", "/revoke", json: #"{"refresh":\#(JSONText.quoted(successor))}"#)
            #expect(await verify(successor).text == Self.blacklisted)
            // An access token outlives nothing the user did: deactivated, it no longer verifies.
            _ = try await UserAdmin(database: harness.database, hashIterations: 1000).deactivate(
                username: user.username, actor: "test", logger: TestDatabase.quietLogger
            )
            #expect(await verify(tokens.access).status == .unauthorized)
        }
    }

    @Test("users set-password ends the user's sessions: families revoked, older tokens (the replaced system's too) refused, audited")
    func setPasswordEndsSessions() async throws {
        try await withHarness { harness in
            let user = try await harness.makeUser()
            let first = try await harness.tokens(for: user)
            let second = try await harness.tokens(for: user)
            let signer = JWTSigner(secretKey: testSecretKey)
            let issued = harness.clock.clock.unixSeconds()
            // A token the replaced system issued (never seen here) before the change.
            let legacy = try signer.sign(TokenClaims(type: .refresh, expiresAt: issued + 86_400, issuedAt: issued, jti: TokenClaims.newJTI(), userID: user.id))
            harness.clock.advance(seconds: 5)
            let admin = UserAdmin(database: harness.database, hashIterations: 1000, clock: harness.clock.clock)
            try await admin.setPassword(username: user.username, password: "a brand new passphrase", actor: "ops", logger: TestDatabase.quietLogger)
            #expect(await harness.refresh(first.refresh).text == Self.blacklisted)
            #expect(await harness.refresh(second.refresh).text == Self.blacklisted)
            #expect(await harness.refresh(legacy).text == Self.blacklisted)
            #expect(await harness.post("refresh", "/verify", json: #"{"token":"\#(first.access)"}"#).text == Self.blacklisted)
            let events = try await harness.auditEvents().filter { $0.userID == user.id && $0.action == "user_set_password" }
            #expect(events.first?.actor == "ops" && events.first?.detail["families_revoked"] == "2", "\(events)")
            // A login with the new password starts a session that works.
            let fresh = await harness.login(user.username, "a brand new passphrase")
            #expect(fresh.status == .ok)
            #expect(await harness.refresh(try #require(fresh.json["refresh"] as? String)).status == .ok)
        }
    }

    @Test("signed ES256: login, refresh, verify and revoke work; GET /.well-known/jwks.json publishes the key; the Django system's HS256 tokens still refresh in the window")
    func es256() async throws {
        try await TestDatabase.with(suite: "refresh") { database in
            let keys = try await ES256Keys.load(privateKeyPEM: P256.Signing.PrivateKey().pemRepresentation)
            let harness = try AuthHarness(database: database, es256: keys)
            let user = try await harness.makeUser()
            let tokens = try await harness.tokens(for: user)
            let header = String(decoding: Base64URL.decode(tokens.refresh.split(separator: ".")[0])!, as: UTF8.self)
            #expect(header.contains(#""alg":"ES256""#) && header.contains(keys.current.kid))
            let rotated = await harness.refresh(tokens.refresh)
            #expect(rotated.status == .ok)
            #expect(await harness.refresh(tokens.refresh).text == Self.blacklisted)
            #expect(await harness.post("refresh", "/verify", json: #"{"token":"\#(tokens.access)"}"#).status == .ok)
            let jwks = await harness.invoker.invoke(FunctionRequest(method: .get, path: "/refresh/.well-known/jwks.json"))
            #expect(jwks.status == .ok && jwks.headers[.contentType] == "application/jwk-set+json" && jwks.headers[.cacheControl] == "public, max-age=300")
            #expect(jwks.text == keys.jwks)
            // A refresh token the Django system signed HS256 with SECRET_KEY (never seen here) is still accepted once.
            let django = JWTSigner(secretKey: testSecretKey)
            let now = harness.clock.clock.unixSeconds()
            func djangoToken() throws -> String {
                try django.sign(TokenClaims(type: .refresh, expiresAt: now + 3600, issuedAt: now, jti: TokenClaims.newJTI(), userID: user.id))
            }
            let legacy = await harness.refresh(try djangoToken())
            #expect(legacy.status == .ok, "\(legacy.text)")
            // After the window, HS256 is refused; and without ES256 there is no JWKS route.
            let closed = try AuthHarness(database: database, es256: keys, acceptHS256Until: now)
            #expect(await closed.refresh(try djangoToken()).text == Self.invalid)
            let plain = try AuthHarness(database: database)
            #expect(await plain.invoker.invoke(FunctionRequest(method: .get, path: "/refresh/.well-known/jwks.json")).status == .notFound)
        }
    }
}
