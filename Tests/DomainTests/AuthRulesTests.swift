import Crypto
import Domain
import Foundation
import Primitives
import Testing
import TestSupport

@Suite("Django password hashes")
struct PasswordHashTests {
    /// Made by Django 5.2's own PBKDF2PasswordHasher.encode.
    static let vectors: [(String, String)] = [
        ("pbkdf2_sha256$1$seasalt$YQUqaoGGIdcjQtCPUVvu1oIcyb7WgPW9b7k/hvRudOk=", "password"),
        ("pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=", "correct horse battery staple"),
        ("pbkdf2_sha256$10000$Zx9Qw8Er7Ty6Ui5Op4As3D$MtdPsUJvRV2TToUbqusQjtK/HJaSEYxp4m3BodsZNKI=", "pässwörd ✓"),
        ("pbkdf2_sha256$100000$saltsaltsaltsaltsaltsa$LPRQ0ysTwR2WQ01aJbT/uLtDgjO+Xua4lwm5vnPK090=", "hunter2hunter2"),
        ("pbkdf2_sha256$390000$QWERTYUIOPasdfghjklzxc$7DHeqUeskoOBVcIdKQZgx7ZnSexsXIJP3PWohHigv2g=", "Django 4.1 default"),
    ]

    @Test("Django's hashes verify at every iteration count, and only with the right password")
    func djangoVectors() {
        let hasher = DjangoPasswordHasher(iterations: 1000)
        for (encoded, password) in Self.vectors {
            let result = hasher.verify(password, against: encoded)
            #expect(result.matches, "\(encoded)")
            #expect(result.needsRehash == !encoded.contains("$1000$"), "\(encoded)")
            #expect(!hasher.verify(password + "x", against: encoded).matches)
        }
    }

    @Test("new hashes use the configured count and Django's format; a fixed salt reproduces Django's output")
    func newHashes() throws {
        let hasher = DjangoPasswordHasher(iterations: 1000)
        #expect(hasher.hash("correct horse battery staple", salt: "abcdefghijklmnopqrstuv") == Self.vectors[1].0)
        let fresh = hasher.hash("another password")
        let parts = fresh.split(separator: "$")
        #expect(parts.count == 4 && parts[0] == "pbkdf2_sha256" && parts[1] == "1000")
        #expect(parts[2].count == 22 && parts[2].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(hasher.verify("another password", against: fresh) == .init(matches: true, needsRehash: false, iterationsSpent: 1000))
        #expect(DjangoPasswordHasher.makeSalt() != DjangoPasswordHasher.makeSalt())
    }

    @Test("a refusal costs at least the configured count whatever the stored hash holds, as an unknown user does")
    func constantWorkPerRefusal() {
        let hasher = DjangoPasswordHasher(iterations: 20_000)
        let unknown = hasher.burnOneHash("guess")
        #expect(unknown == 20_000)
        // Fewer iterations (an imported user), the configured count, unusable and foreign hashes: all 20,000.
        for (encoded, _) in Self.vectors.prefix(3) {
            #expect(hasher.verify("guess", against: encoded).iterationsSpent == unknown, "\(encoded)")
        }
        #expect(hasher.verify("guess", against: hasher.hash("the right one")).iterationsSpent == unknown)
        #expect(hasher.verify("guess", against: "!unusable").iterationsSpent == unknown)
        #expect(hasher.verify("guess", against: "md5$salt$hash").iterationsSpent == unknown)
        // A stored count above the configured one costs what it holds (it cannot cost less and still check).
        #expect(hasher.verify("guess", against: Self.vectors[4].0).iterationsSpent == 390_000)
        // A match at an older count is not topped up: its caller stores a new hash (needsRehash).
        let old = hasher.verify(Self.vectors[1].1, against: Self.vectors[1].0)
        #expect(old.matches && old.needsRehash && old.iterationsSpent == 1000)
    }

    @Test("unusable, foreign and malformed hashes never match", arguments: [
        "!", "!pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=",
        "argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$abc", "md5$salt$hash", "pbkdf2_sha256$x$salt$hash",
        "pbkdf2_sha256$1000$$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=", "pbkdf2_sha256$1000$salt$notbase64!!", "",
    ])
    func neverMatches(encoded: String) {
        #expect(!DjangoPasswordHasher(iterations: 10).verify("correct horse battery staple", against: encoded).matches)
    }
}

@Suite("Password policy (Django's validators)")
struct PasswordPolicyTests {
    @Test("short, numeric and common passwords are refused, every reason listed in Django's words")
    func policy() {
        let policy = PasswordPolicy()
        #expect(policy.problems(with: "123456") == [
            "This password is too short. It must contain at least 12 characters.", "This password is too common.",
            "This password is entirely numeric.",
        ])
        #expect(policy.problems(with: "839201748392017") == ["This password is entirely numeric."])
        #expect(policy.problems(with: "  Password123 ") == ["This password is too common."])
        #expect(policy.problems(with: "ééééééééééé") == ["This password is too short. It must contain at least 12 characters."])
        // 12 Unicode scalars that form fewer graphemes still count as 12 (Django counts code points).
        #expect(policy.problems(with: String(repeating: "e\u{301}", count: 6)).isEmpty)
        #expect(policy.problems(with: "correct horse battery staple").isEmpty)
        #expect(CommonPasswords.contains("QWERTY"))
    }
}

@Suite("simplejwt-compatible tokens")
struct JWTTests {
    let signer = JWTSigner(secretKey: testSecretKey)

    @Test("tokens minted by a standard JWT library with the shared key are accepted, user_id int or string")
    func standardLibraryTokens() throws {
        let integer = try signer.verify(JWTFixtures.integerUserID, expecting: .refresh, now: 1_800_000_000)
        #expect(integer.userID == 7 && !integer.userIDIsString && integer.jti == "0123456789abcdef0123456789abcdef")
        let string = try signer.verify(JWTFixtures.stringUserID, expecting: .refresh, now: 1_800_000_000)
        #expect(string.userID == 7 && string.userIDIsString)
    }

    @Test("signing writes simplejwt's header and claim order; verification round-trips")
    func roundTrip() throws {
        let claims = TokenClaims(type: .access, expiresAt: 2000, issuedAt: 1000, jti: "ab", userID: 42)
        let token = try signer.sign(claims)
        let parts = token.split(separator: ".")
        #expect(String(decoding: Base64URL.decode(parts[0])!, as: UTF8.self) == #"{"alg":"HS256","typ":"JWT"}"#)
        #expect(String(decoding: Base64URL.decode(parts[1])!, as: UTF8.self) == #"{"token_type":"access","exp":2000,"iat":1000,"jti":"ab","user_id":42}"#)
        #expect(try signer.verify(token, expecting: .access, now: 1500) == claims)
    }

    @Test("refusals carry simplejwt's reasons")
    func refusals() throws {
        func reason(_ token: String, _ type: TokenClaims.TokenType = .refresh, now: Int64 = 1_800_000_000) -> TokenError? {
            do {
                _ = try signer.verify(token, expecting: type, now: now)
                return nil
            } catch { return error }
        }
        #expect(reason(JWTFixtures.hs512) == .invalidOrExpired)
        #expect(reason(JWTFixtures.algNone) == .invalidOrExpired)
        #expect(reason(JWTFixtures.integerUserID, now: 4_102_444_800) == .invalidOrExpired)
        #expect(reason(JWTFixtures.integerUserID, .access) == .wrongType)
        #expect(throws: TokenError.invalidOrExpired) {
            try JWTSigner(secretKey: testSecretKey + "x").verify(JWTFixtures.integerUserID, expecting: .refresh, now: 0)
        }
        var parts = JWTFixtures.integerUserID.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(Data(#"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"x","user_id":1}"#.utf8))
        #expect(reason(parts.joined(separator: ".")) == .invalidOrExpired)
        for garbage in ["", "a.b", "a.b.c", "....", String(repeating: "A", count: 10_000), "eyJ.eyJ.sig"] {
            #expect(reason(garbage) == .invalidOrExpired, "\(garbage.prefix(20))")
        }
        let fractional = try signer.verify(
            signer.signRaw(#"{"token_type":"refresh","exp":4102444800.75,"iat":1.5,"jti":"j\u0041","user_id":"12"}"#), expecting: .refresh,
            now: 1_800_000_000
        )
        #expect(fractional.expiresAt == 4_102_444_800 && fractional.issuedAt == 1 && fractional.jti == "jA")
        #expect(fractional.userID == 12 && fractional.userIDIsString)
        let noType = signer.signRaw(#"{"exp":4102444800,"iat":1,"jti":"j","user_id":1}"#)
        #expect(reason(noType) == .noType)
        let noJTI = signer.signRaw(#"{"token_type":"refresh","exp":4102444800,"iat":1,"user_id":1}"#)
        #expect(reason(noJTI) == .noID)
        for hostile in [
            #"{"token_type":"refresh","exp":"4102444800","iat":1,"jti":"j","user_id":1}"#,
            #"{"token_type":"refresh","exp":true,"iat":1,"jti":"j","user_id":1}"#,
            #"{"token_type":"refresh","exp":1e400,"iat":1,"jti":"j","user_id":1}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"j","user_id":99999999999999999999999}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"j","user_id":"abc"}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"j","user_id":-1}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"j","user_id":1.5}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":7,"user_id":1}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"j","user_id":1,"user_id":2}"#,
            #"{"token_type":"refresh","exp":1,"exp":4102444800,"iat":1,"jti":"j","user_id":1}"#,
            #"{"token_type":"refresh","exp":4102444800,"iat":1,"jti":"","user_id":1}"#,
            #"[1,2]"#,
        ] {
            #expect(reason(signer.signRaw(hostile)) == .invalidOrExpired, "\(hostile)")
        }
    }
}


@Suite("Base64url")
struct Base64URLTests {
    @Test("round-trips every length and matches Foundation's base64 with the URL alphabet, unpadded")
    func roundTrip() {
        for length in 0..<70 {
            let bytes = Data((0..<length).map { UInt8(($0 * 37 + 11) % 256) })
            let encoded = Base64URL.encode(bytes)
            let reference = bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(encoded == reference)
            #expect(Base64URL.decode(encoded) == bytes)
        }
        for bad in ["a", "ab=c", "ab+c", "ab/c", "a b", "AB", "ABC"] where bad != "ABC" && bad != "AB" {
            #expect(Base64URL.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64URL.decode("AB") == nil)  // trailing bits set
        #expect(Base64URL.decode("AA") == Data([0]))
        #expect(TokenClaims.newJTI().count == 32)
    }
}

@Suite("ES256 tokens and their JSON Web Key Set")
struct ES256Tests {
    static func pem() -> String { P256.Signing.PrivateKey().pemRepresentation }

    @Test("signed ES256 with the key's RFC 7638 thumbprint as kid; the published JWK alone verifies it (checked with swift-crypto, not JWTKit)")
    func signAndPublish() async throws {
        let keys = try await ES256Keys.load(privateKeyPEM: Self.pem())
        let signer = JWTSigner(secretKey: testSecretKey, es256: keys)
        let claims = TokenClaims(type: .access, expiresAt: 2000, issuedAt: 1000, jti: "ab", userID: 42)
        let token = try signer.sign(claims)
        let parts = token.split(separator: ".").map(String.init)
        let header = try #require(try JSONSerialization.jsonObject(with: Base64URL.decode(parts[0])!) as? [String: String])
        #expect(header == ["alg": "ES256", "kid": keys.current.kid, "typ": "JWT"])
        #expect(try signer.verify(token, expecting: .access, now: 1500) == claims)
        // Another service's view: the JWKS, then plain P-256 verification of the JWS signing input.
        let published = try #require(signer.jwks)
        let jwks = try #require(try JSONSerialization.jsonObject(with: Data(published.utf8)) as? [String: [[String: String]]])
        let jwk = try #require(jwks["keys"]?.first)
        #expect(jwk["kty"] == "EC" && jwk["crv"] == "P-256" && jwk["alg"] == "ES256" && jwk["use"] == "sig" && jwk["kid"] == keys.current.kid)
        let point = Data([4]) + Base64URL.decode(jwk["x"]!)! + Base64URL.decode(jwk["y"]!)!
        let publicKey = try P256.Signing.PublicKey(x963Representation: point)
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: Base64URL.decode(parts[2])!)
        #expect(publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8)))
        // RFC 7638: the thumbprint of exactly {"crv","kty","x","y"} in that order.
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!)","y":"\#(jwk["y"]!)"}"#
        #expect(keys.current.kid == Base64URL.encode(Data(SHA256.hash(data: Data(canonical.utf8)))))
    }

    @Test("a retired key still verifies and is still published; an unknown kid, a tampered payload, alg none and HS512 are refused")
    func rotationAndRefusals() async throws {
        let old = P256.Signing.PrivateKey()
        let oldSigner = JWTSigner(secretKey: testSecretKey, es256: try await ES256Keys.load(privateKeyPEM: old.pemRepresentation))
        let claims = TokenClaims(type: .refresh, expiresAt: 2000, issuedAt: 1000, jti: "cd", userID: 7)
        let oldToken = try oldSigner.sign(claims)
        let keys = try await ES256Keys.load(privateKeyPEM: Self.pem(), retiredPublicKeysPEM: old.publicKey.pemRepresentation + "\n")
        let signer = JWTSigner(secretKey: testSecretKey, es256: keys)
        #expect(try signer.verify(oldToken, expecting: .refresh, now: 1500) == claims)
        #expect(keys.retired.count == 1 && signer.jwks!.contains(keys.retired[0].kid))
        let stranger = JWTSigner(secretKey: testSecretKey, es256: try await ES256Keys.load(privateKeyPEM: Self.pem()))
        #expect(throws: TokenError.invalidOrExpired) { try signer.verify(try stranger.sign(claims), expecting: .refresh, now: 1500) }
        var parts = oldToken.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(Data(#"{"token_type":"refresh","exp":2000,"iat":1000,"jti":"cd","user_id":8}"#.utf8))
        #expect(throws: TokenError.invalidOrExpired) { try signer.verify(parts.joined(separator: "."), expecting: .refresh, now: 1500) }
        #expect(throws: TokenError.invalidOrExpired) { try signer.verify(JWTFixtures.algNone, expecting: .refresh, now: 1_800_000_000) }
        #expect(throws: TokenError.invalidOrExpired) { try signer.verify(JWTFixtures.hs512, expecting: .refresh, now: 1_800_000_000) }
        // An ES256 token is not accepted by a signer that has no ES256 keys (HS256 only).
        #expect(throws: TokenError.invalidOrExpired) { try JWTSigner(secretKey: testSecretKey).verify(oldToken, expecting: .refresh, now: 1500) }
    }

    @Test("HS256 tokens (the Django system's) are accepted through the transition window, and refused after it")
    func transitionWindow() async throws {
        let keys = try await ES256Keys.load(privateKeyPEM: Self.pem())
        let open = JWTSigner(secretKey: testSecretKey, es256: keys)
        #expect(try open.verify(JWTFixtures.integerUserID, expecting: .refresh, now: 1_800_000_000).userID == 7)
        let closing = JWTSigner(secretKey: testSecretKey, es256: keys, acceptHS256Until: 1_800_000_001)
        #expect(try closing.verify(JWTFixtures.integerUserID, expecting: .refresh, now: 1_800_000_000).userID == 7)
        #expect(throws: TokenError.invalidOrExpired) { try closing.verify(JWTFixtures.integerUserID, expecting: .refresh, now: 1_800_000_001) }
    }

    @Test("keys that are not PEM EC P-256 keys are refused with a message that shows no key")
    func badKeys() async throws {
        await #expect(throws: ES256Keys.InvalidKey.self) { try await ES256Keys.load(privateKeyPEM: "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----") }
        await #expect(throws: ES256Keys.InvalidKey.self) {
            try await ES256Keys.load(privateKeyPEM: Self.pem(), retiredPublicKeysPEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
        }
    }
}
