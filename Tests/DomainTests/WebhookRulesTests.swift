import Domain
import Foundation
import Testing

@Suite("Fernet, interoperable with Python's cryptography")
struct FernetTests {
    static let key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
    /// Made by cryptography 48's Fernet(key).encrypt_at_time(b"hello fernet", 1700000000).
    static let pythonToken = "gAAAAABlU_EASQeCkJFtDUP_il1Q-LPW1Rp26x4Z4DqQ0ihtPS2X6ETm98cJJO71LHHyq6aaKKMBfGAjG9-MIjlo-AisLYMepA=="
    /// Made by cryptography's Fernet._encrypt_from_parts("webhook secret ✓", 1700000000, bytes(range(16))).
    static let pythonFixedIV = "gAAAAABlU_EAAAECAwQFBgcICQoLDA0OD5WJMngDjtZZlE204YCcTHlS5mje_CYfAGvCmdCu6TDg-N4UaKysSNvioX3UOcdnrkyVrQLPn_hTqNVDtrNF1W4="

    @Test("tokens from Python decrypt here; tokens made here are byte-identical to Python's for the same parts")
    func interoperability() throws {
        let fernet = try Fernet(key: Self.key)
        #expect(try fernet.decrypt(Self.pythonToken) == Data("hello fernet".utf8))
        let ours = try fernet.encrypt(Data("webhook secret ✓".utf8), at: Date(timeIntervalSince1970: 1_700_000_000), iv: Array(0..<16))
        #expect(ours == Self.pythonFixedIV)
        let random = try fernet.encrypt("round trip")
        #expect(try fernet.decryptString(random) == "round trip")
        #expect(try fernet.encrypt("round trip") != random)
    }

    @Test("several keys work as Python's MultiFernet: the first encrypts, each decrypts, rotate()'s output opens")
    func multiFernet() throws {
        let newer = "lJnyT5AtBInx2qUGz_3Fl2fXTYRZkwddZPHiwV_9oXw="
        // Fernet(older).encrypt_at_time(b"stored under the old key", 1700000000), then
        // MultiFernet([Fernet(newer), Fernet(older)]).rotate(that token), with cryptography 48.
        let underOlder = "gAAAAABlU_EAYre-gMCMXDD6gMm-QlRFttCey8R_CMyGqg1AiTNZ-CttE0YWCZmDMEdmDJripZNpGXpnjrvy-AVYdcgLvB4ahx6ALEBfzvfqyRn_VX44CIg="
        let rotated = "gAAAAABlU_EAeLhoaYkfSf0Jmyusw_GcJ6nTC13H884dd3LTu1OAm8Fxk-3WIfasFafYUeelNWdUpuHLQrapanneaoipaKCLqYRQlxojxPXEjOtUhR-DY7o="
        let both = try FieldEncryption(keys: [newer, Self.key], realDataMode: true)
        #expect(try both.openSecret(underOlder, encrypted: true) == "stored under the old key")
        #expect(try both.openSecret(rotated, encrypted: true) == "stored under the old key")
        #expect(try Fernet(key: newer).decryptString(rotated) == "stored under the old key")
        // The first key encrypts: the newer alone opens what is sealed now, the older alone does not.
        let sealed = try both.sealSecret("a new secret")
        #expect(try Fernet(key: newer).decryptString(sealed.text) == "a new secret")
        #expect(throws: Fernet.Failure.invalidToken) { try Fernet(key: Self.key).decryptString(sealed.text) }
        let payload = try both.sealPayload(Data("{}".utf8))
        let opened = try FieldEncryption(keys: [newer], realDataMode: true).openPayload(payload.data, encrypted: true)
        #expect(payload.encrypted && opened == Data("{}".utf8))
        // Under neither key: refused, not mistaken for another.
        let stranger = try FieldEncryption(keys: [Fernet.generateKey()], realDataMode: true)
        #expect(throws: Fernet.Failure.invalidToken) { try stranger.openSecret(underOlder, encrypted: true) }
        #expect(throws: Fernet.Failure.invalidKey) { try FieldEncryption(keys: [newer, "short"], realDataMode: false) }
        #expect(throws: Fernet.Failure.invalidKey) { try FieldEncryption(keys: [], realDataMode: true) }
    }

    @Test("reseal is MultiFernet.rotate: an older key's token becomes the newest key's with its time kept, byte for byte as Python's for the same IV")
    func reseal() throws {
        let newer = "lJnyT5AtBInx2qUGz_3Fl2fXTYRZkwddZPHiwV_9oXw="
        // The vectors of multiFernet(): a token of the older key, and cryptography 48's rotate() of it.
        let underOlder = "gAAAAABlU_EAYre-gMCMXDD6gMm-QlRFttCey8R_CMyGqg1AiTNZ-CttE0YWCZmDMEdmDJripZNpGXpnjrvy-AVYdcgLvB4ahx6ALEBfzvfqyRn_VX44CIg="
        let pythonRotated = "gAAAAABlU_EAeLhoaYkfSf0Jmyusw_GcJ6nTC13H884dd3LTu1OAm8Fxk-3WIfasFafYUeelNWdUpuHLQrapanneaoipaKCLqYRQlxojxPXEjOtUhR-DY7o="
        let both = try FieldEncryption(keys: [newer, Self.key], realDataMode: true)
        guard case .resealed(let ours) = both.reseal(underOlder) else {
            Issue.record("not resealed")
            return
        }
        let opened = try Fernet(key: newer).open(ours)
        #expect(opened.plaintext == Data("stored under the old key".utf8))
        #expect(opened.time == Date(timeIntervalSince1970: 1_700_000_000))
        // Python's token with its IV: the same parts give the same bytes.
        let pythonBytes = try #require(Data(base64Encoded: pythonRotated.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")))
        let iv = Array(pythonBytes[9..<25])
        #expect(try Fernet(key: newer).encrypt(opened.plaintext, at: opened.time, iv: iv) == pythonRotated)
        // What the newest key opens is current; what no key opens is reported, not guessed at.
        #expect(both.reseal(pythonRotated) == .current)
        #expect(both.reseal(ours) == .current)
        #expect(try FieldEncryption(keys: [Fernet.generateKey()], realDataMode: false).reseal(underOlder) == .unreadable)
        #expect(both.reseal("not a token") == .unreadable)
        #expect(FieldEncryption.none.reseal(underOlder) == .unreadable)
    }

    @Test("tampered tokens, other keys and bad keys are refused")
    func refusals() throws {
        let fernet = try Fernet(key: Self.key)
        var bytes = Array(Self.pythonToken)
        bytes[30] = bytes[30] == "A" ? "B" : "A"
        #expect(throws: Fernet.Failure.invalidToken) { try fernet.decrypt(String(bytes)) }
        #expect(throws: Fernet.Failure.invalidToken) { try Fernet(key: Fernet.generateKey()).decrypt(Self.pythonToken) }
        #expect(throws: Fernet.Failure.invalidToken) { try fernet.decrypt("not a token") }
        #expect(throws: Fernet.Failure.invalidKey) { try Fernet(key: "short") }
        #expect(throws: Fernet.Failure.invalidKey) { try FieldEncryption(key: nil, realDataMode: true) }
    }
}

@Suite("Webhook signatures, retry schedule, SSRF guard, event filters")
struct WebhookRulesTests {
    @Test("the Standard Webhooks known-answer vector")
    func knownAnswer() throws {
        let signature = WebhookSignature.standard(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        try WebhookSignature.verifyStandard(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330", signatures: "v1,bm9wZQ== " + signature,
            body: Data(#"{"test": 2432232314}"#.utf8), secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            now: Date(timeIntervalSince1970: 1_614_265_330 + 299)
        )
    }

    @Test("rotation signs with every active secret, and either verifies; stale or wrong is refused")
    func rotation() throws {
        let old = WebhookSignature.newSecret()
        let new = WebhookSignature.newSecret()
        let body = Data(#"{"a":1}"#.utf8)
        let header = WebhookSignature.standardHeader(id: "msg_1", timestamp: 1000, body: body, secrets: [new, old])
        #expect(header.split(separator: " ").count == 2)
        for secret in [old, new] {
            try WebhookSignature.verifyStandard(id: "msg_1", timestamp: "1000", signatures: header, body: body, secrets: [secret], now: Date(timeIntervalSince1970: 1000))
        }
        #expect(throws: WebhookSignature.Failure.mismatch) {
            try WebhookSignature.verifyStandard(id: "msg_1", timestamp: "1000", signatures: header, body: body + Data(" ".utf8), secrets: [new], now: Date(timeIntervalSince1970: 1000))
        }
        #expect(throws: WebhookSignature.Failure.staleTimestamp) {
            try WebhookSignature.verifyStandard(id: "msg_1", timestamp: "1000", signatures: header, body: body, secrets: [new], now: Date(timeIntervalSince1970: 1301))
        }
        #expect(throws: WebhookSignature.Failure.missingHeaders) {
            try WebhookSignature.verifyStandard(id: nil, timestamp: "1000", signatures: header, body: body, secrets: [new], now: Date(timeIntervalSince1970: 1000))
        }
        let hex = WebhookSignature.hex(body: body, secret: "plain-shared-secret")
        try WebhookSignature.verifyHex("sha256=" + hex, body: body, secrets: ["plain-shared-secret"])
        try WebhookSignature.verifyHex(hex.uppercased(), body: body, secrets: ["x", "plain-shared-secret"])
        #expect(throws: WebhookSignature.Failure.mismatch) { try WebhookSignature.verifyHex(hex, body: body, secrets: ["other"]) }
    }

    @Test("the retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, ±20 %, Retry-After within bounds")
    func schedule() {
        let schedule = RetrySchedule()
        let now = Date(timeIntervalSince1970: 0)
        let expected: [TimeInterval] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000]
        for (index, delay) in expected.enumerated() {
            let attempt = index + 1
            #expect(schedule.nextAttempt(after: attempt, at: now, random: 0)?.timeIntervalSince1970 == delay)
            #expect(schedule.nextAttempt(after: attempt, at: now, random: 1)?.timeIntervalSince1970 == delay * 1.2)
            #expect(schedule.nextAttempt(after: attempt, at: now, random: -1)?.timeIntervalSince1970 == delay * 0.8)
        }
        #expect(schedule.nextAttempt(after: 8, at: now) == nil)
        #expect(schedule.nextAttempt(after: 1, at: now, retryAfter: 120, random: 0)?.timeIntervalSince1970 == 120)
        #expect(schedule.nextAttempt(after: 1, at: now, retryAfter: 999_999, random: 0)?.timeIntervalSince1970 == 36_000)
        #expect(schedule.nextAttempt(after: 3, at: now, retryAfter: 1, random: 0)?.timeIntervalSince1970 == 1800)
        #expect(RetrySchedule(parsing: "0, 1,2")?.delays == [0, 1, 2])
        #expect(RetrySchedule(parsing: "a,1") == nil)
    }

    @Test("SSRF: loopback, private, link-local, CGNAT, ULA, metadata and their IPv6 forms are blocked", arguments: [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.1",
        "::ffff:169.254.169.254", "::ffff:10.0.0.1", "2002:7f00:0001::1", "64:ff9b::a9fe:a9fe", "ff02::1", "[::1]", "not-an-ip",
        // NAT64 (well-known and local-use), Teredo and the rest of 2001::/23, IANA's other special-purpose blocks
        "64:ff9b::808:808", "64:ff9b:1::a00:1", "64:ff9b:1:ffff::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:2::1", "2001:10::1", "2001:20::1", "2001:1ff::1", "2001:db8::1", "3fff::1", "2620:4f:8000::1", "5f00::1",
        "100::1", "192.0.0.8", "192.31.196.1", "192.52.193.1", "192.88.99.1", "192.175.48.1", "198.18.0.1", "240.0.0.1",
    ])
    func blocked(address: String) {
        #expect(SSRFGuard.isBlocked(address), "\(address)")
    }

    @Test("SSRF: public addresses are allowed", arguments: [
        "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2001:200::1", "2001:4860:4860::8888",
        "64:ff9c::1", "2620:4f:8001::1",
    ])
    func allowed(address: String) {
        #expect(!SSRFGuard.isBlocked(address), "\(address)")
    }

    @Test("SSRF: resolution of localhost yields loopback (blocked)")
    func resolution() {
        let addresses = SSRFGuard.resolve("localhost")
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy(SSRFGuard.isBlocked))
    }

    @Test("event-type filters: exact, prefix.*, and validation")
    func filters() {
        #expect(EventTypeFilter.matches("user.created", filters: ["user.*"]))
        #expect(EventTypeFilter.matches("user.created", filters: ["order.paid", "user.created"]))
        #expect(!EventTypeFilter.matches("username.changed", filters: ["user.*"]))
        #expect(!EventTypeFilter.matches("user", filters: ["user.*"]))
        #expect(EventTypeFilter.isValid("a.b-c_d.*") && !EventTypeFilter.isValid("a..b") && !EventTypeFilter.isValid("a b") && !EventTypeFilter.isValid(""))
    }
}
