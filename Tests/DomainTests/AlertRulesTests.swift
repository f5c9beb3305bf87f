import Domain
import Foundation
import Primitives
import Testing

@Suite("alert validation: every field checked, every problem reported, nothing partial")
struct AlertRulesTests {
    static func validate(_ json: String, defaults: [String] = []) -> Result<Alert, AlertValidationError> {
        Alert.validate(Data(json.utf8), defaultRecipients: defaults)
    }

    @Test("a good alert is trimmed, its severity read case-insensitively, recipients defaulted")
    func valid() throws {
        let alert = try Self.validate(
            #"{"alert_type":"drift_detected","severity":"CRITICAL","subject":"  Ward 3  ","message":"m","links":["https://a.example"]}"#,
            defaults: ["oncall@example.org"]
        ).get()
        #expect(alert.severity == .critical)
        #expect(alert.subject == "Ward 3")
        #expect(alert.recipients == ["oncall@example.org"])
        #expect(alert.links == ["https://a.example"])
        #expect(alert.idempotencyKey == nil)
    }

    @Test("every broken field is named at once, in DRF's words")
    func everyProblem() {
        guard case .failure(let error) = Self.validate(
            #"{"alert_type":"bad type!","severity":"loud","subject":"two\nlines","recipients":["not-an-address"],"links":["ftp://x"]}"#
        ) else {
            Issue.record("accepted")
            return
        }
        #expect(error.fields["alert_type"] == ["Use letters, digits, and _ . : - only."])
        #expect(error.fields["severity"]?.first?.contains("is not a valid choice") == true)
        #expect(error.fields["subject"] == ["The subject must be one line."])
        #expect(error.fields["message"] == ["This field is required."])
        #expect(error.fields["recipients"] == ["Enter a valid email address."])
        #expect(error.fields["links"] == ["Expected a list of at most 10 http(s) URLs."])
    }

    @Test("a subject is one line: CRLF (one Character), U+2028, U+2029, U+0085 and NUL are refused", arguments: [
        "Hello\r\nBcc: victim@example.com", "Hello\u{2028}Bcc: x", "Hello\u{2029}x", "Hello\u{85}x", "Hello\u{0}x", "Hello\rx",
    ])
    func oneLineSubject(_ subject: String) {
        let json = #"{"alert_type":"a","severity":"info","subject":"# + JSONText.quoted(subject) + #","message":"m","recipients":["a@b.co"]}"#
        guard case .failure(let error) = Self.validate(json) else {
            Issue.record("accepted \(subject.debugDescription)")
            return
        }
        #expect(error.fields["subject"] == ["The subject must be one line."])
    }

    @Test("not an object, blank, too long, no recipients anywhere", arguments: [
        (#"[1,2]"#, "non_field_errors"),
        (#"{"alert_type":"a","severity":"info","subject":"   ","message":"m","recipients":["a@b.co"]}"#, "subject"),
        (#"{"alert_type":"a","severity":"info","subject":"s","message":"m"}"#, "recipients"),
        (#"{"alert_type":"a","severity":"info","subject":"\#(String(repeating: "x", count: 201))","message":"m","recipients":["a@b.co"]}"#, "subject"),
    ])
    func refused(json: String, field: String) {
        guard case .failure(let error) = Self.validate(json) else {
            Issue.record("accepted")
            return
        }
        #expect(error.fields[field] != nil, "\(error.fields)")
    }

    @Test("email addresses: one @, a dotted domain, nothing a header could smuggle", arguments: [
        ("jane@example.org", true), ("a.b+c@sub.example.co", true), ("no-at.example.org", false), ("a@b", false),
        ("a@@b.co", false), ("a b@c.co", false), ("a@b.co\r\nBcc: x@y.co", false), ("<a@b.co>", false), ("a@-b.co", false),
    ])
    func emailAddresses(address: String, valid: Bool) {
        #expect(EmailAddress.isValid(address) == valid)
    }

    @Test("EMAIL_BACKEND: the plain names and the original's anymail spelling")
    func backends() {
        #expect(AlertSettings.EmailBackend(setting: "console") == .console)
        #expect(AlertSettings.EmailBackend(setting: "anymail.backends.mailgun.EmailBackend") == .mailgun)
        #expect(AlertSettings.EmailBackend(setting: "SendGrid") == .sendgrid)
        #expect(AlertSettings.EmailBackend(setting: "smtp") == nil)
    }
}

@Suite("the leased work queue's rules: statuses, results, one drain report")
struct WorkRulesTests {
    @Test("a status counts as the result a drain reports")
    func statusResults() {
        #expect(WorkStatus.succeeded.result == .succeeded)
        #expect(WorkStatus.pending.result == .retrying)
        #expect(WorkStatus.failed.result == .failed)
    }

    @Test("the report counts each result once, and encodes every field")
    func report() throws {
        var report = DrainReport()
        for result in [AttemptResult.succeeded, .succeeded, .retrying, .failed, .lost] { report.count(result) }
        #expect((report.succeeded, report.retrying, report.failed, report.lostClaims) == (2, 1, 1, 1))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        #expect(Set(json?.keys.map { $0 } ?? []) == ["claimed", "succeeded", "retrying", "failed", "lostClaims", "endpointsDisabled", "budgetExhausted"])
    }
}

@Suite("webhook sources: which types they may send, which secrets verify")
struct SourceRulesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("an empty allow-list takes every type; a list takes exact names and prefix.* only, never a missing type")
    func allows() {
        var source = WebhookSource(id: 1, slug: "lab", scheme: .standard, secret: "s", allowedEventTypes: [], enabled: true)
        #expect(source.allows(nil))
        #expect(source.allows("anything.at.all"))
        source.allowedEventTypes = ["lab.*", "order.paid"]
        #expect(source.allows("lab.result"))
        #expect(source.allows("order.paid"))
        #expect(!source.allows("order.refunded"))
        #expect(!source.allows(nil))
    }

    @Test("the previous secret verifies only until its overlap ends")
    func rotation() {
        var source = WebhookSource(id: 1, slug: "lab", scheme: .hmacSHA256, secret: "new", allowedEventTypes: [], enabled: true)
        source.previousSecret = "old"
        source.previousSecretUntil = Self.now.addingTimeInterval(60)
        #expect(source.activeSecrets(at: Self.now) == ["new", "old"])
        #expect(source.activeSecrets(at: Self.now.addingTimeInterval(61)) == ["new"])
    }

    @Test("field encryption: REAL_DATA_MODE without a key is refused; without real data only secrets are sealed")
    func fieldEncryption() throws {
        #expect(throws: Fernet.Failure.invalidKey) { try FieldEncryption(key: nil, realDataMode: true) }
        let key = Fernet.generateKey()
        let secretsOnly = try FieldEncryption(key: key, realDataMode: false)
        #expect(try secretsOnly.sealSecret("whsec_x").encrypted)
        #expect(try secretsOnly.sealPayload(Data("{}".utf8)).encrypted == false)
        let real = try FieldEncryption(key: key, realDataMode: true)
        let sealed = try real.sealPayload(Data("{\"a\":1}".utf8))
        #expect(sealed.encrypted)
        #expect(try real.openPayload(sealed.data, encrypted: true) == Data("{\"a\":1}".utf8))
    }
}

@Suite("text rules: judged on Unicode scalars")
struct TextRulesTests {
    @Test("one line refuses every line break (CR LF as one Character too), control characters and noncharacters; a tab is space")
    func oneLine() {
        for bad in ["Hello\r\nBcc: x@y.z", "a\nb", "a\rb", "a\u{0B}b", "a\u{0C}b", "a\u{85}b", "a\u{2028}b", "a\u{2029}b", "a\u{0}b", "\u{1B}[31m", "\u{7F}", "\u{9B}", String(Unicode.Scalar(0xFFFF)!), String(Unicode.Scalar(0xFDD0)!)] {
            #expect(!TextRules.isOneLine(bad), "\(bad.unicodeScalars.map { $0.value })")
        }
        for good in ["Hello world", "tab\there", "Ünïcødé ✓ 日本語", "\u{202E}rtl is text in a subject"] {
            #expect(TextRules.isOneLine(good))
        }
    }

    @Test("multi-line text keeps line breaks and tabs and refuses other control characters; identifiers refuse bidi overrides and BOMs too")
    func multiLineAndTokens() {
        #expect(TextRules.isMultiLine("line one\r\nline two\n\tindented\u{2028}"))
        for bad in ["a\u{0}b", "\u{1B}[2J", "\u{8}", String(Unicode.Scalar(0xFFFE)!)] { #expect(!TextRules.isMultiLine(bad)) }
        #expect(TextRules.isToken("order.created-v2_ünïcødé"))
        for bad in ["a b\tc", "a\u{202E}b", "a\u{2066}b", "\u{FEFF}a", "a\u{2028}", "a\u{0}"] where bad != "a b\tc" { #expect(!TextRules.isToken(bad)) }
        #expect(!TextRules.isToken("a\tb"))
    }

    @Test("alerts: a CR LF subject, a NUL message, a control character in a recipient or link: 400 naming the field")
    func alertFields() throws {
        func fields(_ json: String) -> [String] {
            guard case .failure(let invalid) = Alert.validate(Data(json.utf8), defaultRecipients: []) else { return [] }
            return invalid.fields.keys.sorted()
        }
        let base = #""alert_type":"t","severity":"info""#
        #expect(fields(#"{\#(base),"subject":"Hi\r\nBcc: v@x.io","message":"m","recipients":["a@example.com"]}"#) == ["subject"])
        #expect(fields(#"{\#(base),"subject":"s","message":"a\u0000b","recipients":["a@example.com"]}"#) == ["message"])
        #expect(fields(#"{\#(base),"subject":"s","message":"m","recipients":["a\u2028@example.com"]}"#) == ["recipients"])
        #expect(fields(#"{\#(base),"subject":"s","message":"m","recipients":["a@example.com"],"links":["https://x.io/\u0000"]}"#) == ["links"])
        #expect(fields(#"{\#(base),"subject":"s","message":"m","recipients":["a@example.com"],"idempotency_key":"k\u202e"}"#) == ["idempotency_key"])
    }

    @Test("usernames as Django's UnicodeUsernameValidator takes them")
    func usernames() {
        for good in ["alice", "a.b@c+d-e_f", "jürgen", "名前", "x2"] { #expect(User.isValidUsername(good), "\(good)") }
        for bad in ["", "a b", "a\u{0}", "a\nb", "a/b", "a\u{202E}", String(repeating: "a", count: 151)] { #expect(!User.isValidUsername(bad)) }
    }
}
