import Domain
import Foundation
import Logging
import Outbound
import PostgresNIO
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions

/// send-alert over a real database and real provider stand-ins (local HTTP servers that check each request).
struct AlertHarness: Sendable {
    let database: Database
    let clock: TestClock
    let service: AlertService
    let invoker: FunctionInvoker

    init(database: Database, settings: AlertSettings, realDataMode: Bool = false) throws {
        self.database = database
        let clock = TestClock()
        self.clock = clock
        let encryption = try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: realDataMode)
        self.service = AlertService(database: database, settings: settings, encryption: encryption, providers: .forTests, clock: clock.clock)
        var logger = Logger(label: "alert-test")
        logger.logLevel = .critical
        self.invoker = FunctionInvoker(
            registry: try FunctionRegistry(
                functions: [SendAlert(alerts: service, rejections: RejectedEvents(database: database), access: PrivateAccess(token: nil), defaultRecipients: settings.defaultRecipients)],
                target: "send-alert"
            ),
            logger: logger, errorMapper: Answers.error(for:)
        )
    }

    func submit(_ json: String) async -> FunctionResponse {
        await invoker.invoke(FunctionRequest(method: .post, path: "/", headers: [.contentType: "application/json"], body: Data(json.utf8)))
    }

    func drain() async throws -> DrainReport { try await service.drain(budget: .seconds(10), logger: TestDatabase.quietLogger) }

    static func alert(key: String? = nil, subject: String = "Drift detected on ward 3") -> String {
        let keyPart = key.map { #","idempotency_key":"\#($0)""# } ?? ""
        return #"{"alert_type":"drift_detected","severity":"critical","subject":"\#(subject)","message":"Values moved.\nSee the dashboard.","recipients":["oncall@example.com","team@example.org"],"links":["https://grafana.example.org/d/1"]\#(keyPart)}"#
    }
}

extension AlertSettings {
    static func testing(_ backend: EmailBackend, base: String = "http://127.0.0.1:9") -> AlertSettings {
        var settings = AlertSettings()
        settings.backend = backend
        settings.from = "alerts@example.org"
        settings.portalBaseURL = "https://portal.example.org"
        settings.mailgunAPIKey = "key-mailgun-test"
        settings.mailgunDomain = "mg.example.org"
        settings.mailgunBaseURL = base
        settings.sendgridAPIKey = "SG.test-key"
        settings.sendgridBaseURL = base
        settings.schedule = RetrySchedule(delays: [0, 30, 120, 600], jitter: 0)
        settings.timeout = .seconds(2)
        // Long, as the webhook tests' lease: a send starts only while its claim's lease covers its timeout and a
        // second to record it, which a short lease stops doing on a loaded suite.
        settings.lease = .seconds(20)
        return settings
    }
}

@Suite("send-alert: providers checked as documented, retried, never sent twice", .machineShare)
struct SendAlertTests {
    func withHarness(_ settings: AlertSettings, realDataMode: Bool = false, _ body: @escaping @Sendable (AlertHarness) async throws -> Void) async throws {
        try await TestDatabase.with(suite: "send-alert-\(UUID().uuidString.prefix(8))") { database in
            try await body(try AlertHarness(database: database, settings: settings, realDataMode: realDataMode))
        }
    }

    @Test("Mailgun: form POST with basic auth, repeated to, text and html, a PDF attachment whose text reads back")
    func mailgun() async throws {
        let sink = WebhookSink { _, _ in .init(status: 200, headers: ["Content-Type": "application/json"], body: #"{"id":"<2026.abc@mg.example.org>","message":"Queued. Thank you."}"#) }
        try await sink.run { base in
            var settings = AlertSettings.testing(.mailgun, base: base)
            settings.attachPDF = true
            try await withHarness(settings) { harness in
                let response = await harness.submit(AlertHarness.alert())
                #expect(response.status == .accepted)
                #expect((response.json["channels"] as? [String: String]) == ["email": "sent"])
                let request = try #require(sink.requests.first)
                #expect(request.path == "/v3/mg.example.org/messages")
                #expect(request.headers["authorization"] == "Basic " + Data("api:key-mailgun-test".utf8).base64EncodedString())
                let contentType = try #require(request.headers["content-type"])
                #expect(contentType.hasPrefix("multipart/form-data; boundary="))
                let parts = Multipart.parse(request.body, boundary: String(contentType.split(separator: "=", maxSplits: 1)[1]))
                #expect(parts.filter { $0.name == "to" }.map(\.text) == ["oncall@example.com", "team@example.org"])
                #expect(parts.first { $0.name == "from" }?.text == "alerts@example.org")
                #expect(parts.first { $0.name == "subject" }?.text == "[CRITICAL] Drift detected on ward 3")
                let text = try #require(parts.first { $0.name == "text" }?.text)
                #expect(text.contains("Values moved.") && text.contains("https://portal.example.org/alerts/"))
                #expect(parts.first { $0.name == "html" }?.text.contains("<a href=\"https://portal.example.org/alerts/") == true)
                let attachment = try #require(parts.first { $0.name == "attachment" })
                #expect(attachment.filename?.hasSuffix(".pdf") == true && attachment.contentType == "application/pdf")
                let pdfText = try PDFText.extract(attachment.data)
                #expect(pdfText.contains("Alert: Drift detected on ward 3") && pdfText.contains("Severity: critical") && pdfText.contains("Values moved."))
            }
        }
    }

    @Test("SendGrid: v3 JSON with bearer auth, plain before HTML, base64 attachment; 202 with X-Message-Id")
    func sendgrid() async throws {
        let sink = WebhookSink { _, _ in .init(status: 202, headers: ["X-Message-Id": "sg-123"], body: "") }
        try await sink.run { base in
            var settings = AlertSettings.testing(.sendgrid, base: base)
            settings.attachPDF = true
            try await withHarness(settings) { harness in
                #expect(await harness.submit(AlertHarness.alert()).status == .accepted)
                let request = try #require(sink.requests.first)
                #expect(request.path == "/v3/mail/send")
                #expect(request.headers["authorization"] == "Bearer SG.test-key")
                let json = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
                let to = ((json["personalizations"] as? [[String: Any]])?.first?["to"] as? [[String: String]])?.map { $0["email"] ?? "" }
                #expect(to == ["oncall@example.com", "team@example.org"])
                #expect((json["from"] as? [String: String])?["email"] == "alerts@example.org")
                #expect((json["content"] as? [[String: String]])?.map { $0["type"] ?? "" } == ["text/plain", "text/html"])
                let attachment = try #require((json["attachments"] as? [[String: String]])?.first)
                #expect(attachment["type"] == "application/pdf")
                let pdf = try #require(Data(base64Encoded: attachment["content"] ?? ""))
                #expect(try PDFText.extract(pdf).contains("Drift detected"))
                let provider = try await harness.database.withConnection { connection in
                    var ids: [String?] = []
                    for try await id in try await connection.query("SELECT provider_message_id FROM alert_sends", logger: TestDatabase.quietLogger).decode(String?.self) { ids.append(id) }
                    return ids
                }
                #expect(provider == ["sg-123"])
            }
        }
    }

    @Test("console backend: sent and on record in the statement that stores the alert; a resubmission repeats the answer")
    func consoleRecordedAtOnce() async throws {
        try await withHarness(AlertSettings.testing(.console)) { harness in
            let first = await harness.submit(AlertHarness.alert(key: "console-1"))
            #expect(first.status == .accepted)
            #expect((first.json["channels"] as? [String: String]) == ["email": "sent"])
            let second = await harness.submit(AlertHarness.alert(key: "console-1", subject: "Different"))
            #expect(second.status == .accepted && second.text == first.text)
            let facts = try await harness.database.withConnection { connection in
                var facts: [String] = []
                let rows = try await connection.query(
                    """
                    SELECT s.status || ' attempts=' || s.attempts || ' claimed=' || (s.claim_token IS NOT NULL)
                        || ' provider=' || coalesce(s.provider_message_id, '-') || ' finished=' || (s.finished_at IS NOT NULL)
                        || ' attempt_rows=' || (SELECT count(*) FROM alert_send_attempts a WHERE a.send_id = s.id)
                        || ' answer=' || (a.response IS NOT NULL)
                        || ' counted=' || (SELECT coalesce(sum(value), 0) FROM counters WHERE name = 'alert_sends_total'
                            AND labels = '{"channel": "email", "outcome": "sent"}')
                    FROM alert_sends s JOIN alerts a ON a.id = s.alert_id
                    """,
                    logger: TestDatabase.quietLogger
                )
                for try await fact in rows.decode(String.self) { facts.append(fact) }
                return facts
            }
            #expect(facts == ["sent attempts=1 claimed=false provider=console finished=true attempt_rows=1 answer=true counted=1"])
            #expect(try await harness.drain().claimed == 0)
        }
    }

    @Test("Slack gets a short message with severity and link")
    func slack() async throws {
        let sink = WebhookSink { _, _ in .init(status: 200, body: "ok") }
        try await sink.run { base in
            var settings = AlertSettings.testing(.console)
            settings.slackWebhookURL = base + "/services/T/B/X"
            try await withHarness(settings) { harness in
                let response = await harness.submit(AlertHarness.alert())
                #expect((response.json["channels"] as? [String: String]) == ["email": "sent", "slack": "sent"])
                let slackRequest = try #require(sink.requests.first)
                let body = try #require(try JSONSerialization.jsonObject(with: slackRequest.body) as? [String: String])
                #expect(body["text"]?.contains("[CRITICAL] Drift detected on ward 3") == true)
                #expect(body["text"]?.contains("https://portal.example.org/alerts/") == true)
            }
        }
    }

    @Test("429 and 5xx are retried (Retry-After honoured) until the third attempt succeeds; a 401 fails for good with the reason")
    func retries() async throws {
        let sink = WebhookSink { index, request in
            if request.headers["authorization"] == "Bearer SG.bad" { return .init(status: 401, body: #"{"errors":[{"message":"The provided authorization grant is invalid"}]}"#) }
            switch index {
            case 0: return .init(status: 429, headers: ["Retry-After": "90"], body: "{}")
            case 1: return .init(status: 503, body: "{}")
            default: return .init(status: 202, headers: ["X-Message-Id": "third"], body: "")
            }
        }
        try await sink.run { base in
            try await withHarness(AlertSettings.testing(.sendgrid, base: base)) { harness in
                let response = await harness.submit(AlertHarness.alert())
                #expect((response.json["channels"] as? [String: String]) == ["email": "pending"])
                let early = try await harness.drain()
                #expect(early.claimed == 0)
                harness.clock.advance(seconds: 90)
                let second = try await harness.drain()
                #expect(second.retrying == 1)
                harness.clock.advance(seconds: 120)
                let third = try await harness.drain()
                #expect(third.succeeded == 1)
                #expect(sink.requests.count == 3)
            }
            var bad = AlertSettings.testing(.sendgrid, base: base)
            bad.sendgridAPIKey = "SG.bad"
            try await withHarness(bad) { harness in
                let response = await harness.submit(AlertHarness.alert())
                #expect((response.json["channels"] as? [String: String]) == ["email": "failed"])
                let reason = try await harness.database.withConnection { connection in
                    var reasons: [String?] = []
                    for try await text in try await connection.query("SELECT last_error FROM alert_sends", logger: TestDatabase.quietLogger).decode(String?.self) { reasons.append(text) }
                    return reasons.first ?? nil
                }
                #expect(reason == "HTTP 401: The provided authorization grant is invalid")
            }
        }
    }

    @Test("a provider that hangs times out and the send is retried later")
    func hangingProvider() async throws {
        let sink = WebhookSink { index, _ in index == 0 ? .init(status: 202, delay: .seconds(10), body: "") : .init(status: 202, body: "") }
        try await sink.run { base in
            var settings = AlertSettings.testing(.sendgrid, base: base)
            // 3 s: with 1 s, the retry's immediate answer timed out too on a loaded suite. Still well short of the
            // 10 s hang, which the first attempt must not wait out.
            settings.timeout = .seconds(3)
            try await withHarness(settings) { harness in
                let started = ContinuousClock.now
                let response = await harness.submit(AlertHarness.alert())
                #expect(ContinuousClock.now - started < .seconds(8))
                #expect((response.json["channels"] as? [String: String]) == ["email": "pending"])
                harness.clock.advance(seconds: 30)
                let report = try await harness.drain()
                #expect(report.succeeded == 1)
                let errors = try await harness.database.withConnection { connection in
                    var rows: [String?] = []
                    for try await error in try await connection.query("SELECT error FROM alert_send_attempts ORDER BY attempt", logger: TestDatabase.quietLogger).decode(String?.self) { rows.append(error) }
                    return rows
                }
                #expect(errors == ["timeout", nil])
            }
        }
    }

    @Test("the same idempotency key returns the first answer and sends nothing again")
    func idempotent() async throws {
        let sink = WebhookSink { _, _ in .init(status: 202, body: "") }
        try await sink.run { base in
            try await withHarness(AlertHarness.settingsSendGrid(base)) { harness in
                let first = await harness.submit(AlertHarness.alert(key: "incident-42"))
                let second = await harness.submit(AlertHarness.alert(key: "incident-42", subject: "Different"))
                #expect(first.status == .accepted && second.text == first.text)
                #expect(sink.requests.count == 1)
            }
        }
    }

    @Test("two drains at once send each due alert once")
    func concurrentDrains() async throws {
        let sink = WebhookSink { index, _ in index < 10 ? .init(status: 503, body: "") : .init(status: 202, body: "") }
        try await sink.run { base in
            try await withHarness(AlertHarness.settingsSendGrid(base)) { harness in
                for index in 0..<10 { _ = await harness.submit(AlertHarness.alert(subject: "Alert \(index)")) }
                #expect(sink.requests.count == 10)
                harness.clock.advance(seconds: 30)
                async let first = harness.drain()
                async let second = harness.drain()
                let reports = try await [first, second]
                #expect(reports.map(\.succeeded).reduce(0, +) == 10)
                #expect(sink.requests.count == 20)
                let subjects = sink.requests.dropFirst(10).compactMap { request -> String? in
                    (try? JSONSerialization.jsonObject(with: request.body) as? [String: Any])?["subject"] as? String
                }
                #expect(Set(subjects).count == 10)
            }
        }
    }

    @Test("bad input is a 400 with field errors and stores nothing", arguments: [
        (#"{"severity":"critical","subject":"s","message":"m"}"#, "alert_type"),
        (#"{"alert_type":"t","severity":"apocalyptic","subject":"s","message":"m"}"#, "severity"),
        (#"{"alert_type":"t","severity":"info","subject":"s","message":"m","recipients":["not-an-email"]}"#, "recipients"),
        (#"{"alert_type":"t","severity":"info","subject":"\#(String(repeating: "x", count: 201))","message":"m"}"#, "subject"),
        (#"{"alert_type":"t","severity":"info","subject":"a\nBcc: x@y.z","message":"m"}"#, "subject"),
        (#"{"alert_type":"t","severity":"info","subject":"s","message":"","recipients":["a@b.co"]}"#, "message"),
        (#"{"alert_type":"t","severity":"info","subject":"s","message":"m","links":["javascript:alert(1)"]}"#, "links"),
        ("[1,2]", "non_field_errors"),
        ("{", "non_field_errors"),
    ])
    func badInput(body: String, field: String) async throws {
        try await withHarness(AlertSettings.testing(.console)) { harness in
            let response = await harness.submit(body)
            #expect(response.status == .badRequest)
            #expect((response.json["errors"] as? [String: Any])?[field] != nil, "\(response.text)")
            let count = try await harness.database.withConnection { connection in
                var count = 0
                for try await value in try await connection.query("SELECT count(*)::int FROM alerts", logger: TestDatabase.quietLogger).decode(Int.self) { count = value }
                return count
            }
            #expect(count == 0)
        }
    }

    @Test("a CloudEvent whose data is the alert works; the message is encrypted at rest in REAL_DATA_MODE")
    func cloudEventAndEncryption() async throws {
        try await withHarness(AlertSettings.testing(.console), realDataMode: true) { harness in
            let response = await harness.invoker.invoke(
                FunctionRequest(
                    method: .post, path: "/",
                    headers: [
                        HTTPField.Name("ce-specversion")!: "1.0", HTTPField.Name("ce-id")!: "1", HTTPField.Name("ce-source")!: "//monitor",
                        HTTPField.Name("ce-type")!: "alert.raised", .contentType: "application/json",
                    ],
                    body: Data(AlertHarness.alert().utf8)
                )
            )
            #expect(response.status == .accepted)
            let stored = try await harness.database.withConnection { connection in
                var rows: [(Data, Bool)] = []
                for try await row in try await connection.query("SELECT message, message_encrypted FROM alerts", logger: TestDatabase.quietLogger).decode((Data, Bool).self) { rows.append(row) }
                return rows
            }
            #expect(stored.count == 1 && stored[0].1)
            #expect(!String(decoding: stored[0].0, as: UTF8.self).contains("Values moved"))
        }
    }
}

extension SendAlertTests {
    @Test("REAL_DATA_MODE: subject, recipients, links and providers' error texts are stored as tokens; a retry opens them and reaches the right people")
    func healthDataAtRest() async throws {
        let sink = WebhookSink { index, _ in
            switch index {
            case 0: return .init(status: 503, body: "{}")
            case 1: return .init(status: 200, headers: ["Content-Type": "application/json"], body: #"{"id":"<1@mg.example.org>","message":"Queued."}"#)
            default: return .init(status: 400, headers: ["Content-Type": "application/json"], body: #"{"message":"'to' parameter is not a valid address: oncall@example.com"}"#)
            }
        }
        try await sink.run { base in
            try await withHarness(AlertSettings.testing(.mailgun, base: base), realDataMode: true) { harness in
                #expect((await harness.submit(AlertHarness.alert(subject: "Patient 4711 drift"))).json["channels"] as? [String: String] == ["email": "pending"])
                harness.clock.advance(seconds: 30)
                #expect(try await harness.drain().succeeded == 1)
                // The retry opened what was sealed: the same people, the same subject.
                let retried = try #require(sink.requests.dropFirst().first)
                let parts = Multipart.parse(retried.body, boundary: String(retried.headers["content-type"]!.split(separator: "=", maxSplits: 1)[1]))
                #expect(parts.filter { $0.name == "to" }.map(\.text) == ["oncall@example.com", "team@example.org"])
                #expect(parts.first { $0.name == "subject" }?.text == "[CRITICAL] Patient 4711 drift")
                #expect(parts.first { $0.name == "text" }?.text.contains("https://grafana.example.org/d/1") == true)
                #expect((await harness.submit(AlertHarness.alert(subject: "Patient 4712 drift"))).json["channels"] as? [String: String] == ["email": "failed"])

                let encryption = try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: true)
                try await harness.database.withConnection { connection in
                    let logger = TestDatabase.quietLogger
                    // Nothing a person or a patient could be known by, in any clear column of the three tables.
                    for table in ["alerts", "alert_sends", "alert_send_attempts"] {
                        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT row_to_json(t)::text FROM \(table) t"), logger: logger)
                        for try await text in rows.decode(String.self) {
                            #expect(!text.contains("oncall") && !text.contains("Patient") && !text.contains("grafana"), "\(table): \(text)")
                        }
                    }
                    var subjects: [String] = []
                    let alerts = try await connection.query(
                        "SELECT subject, recipients, links, sealed_fields, fields_encrypted FROM alerts", logger: logger
                    )
                    for try await (subject, recipients, links, sealed, encrypted) in alerts.decode((String, [String], [String], Data?, Bool).self) {
                        #expect(subject.isEmpty && recipients.isEmpty && links.isEmpty && encrypted)
                        let fields = try AlertFields.opened(try #require(sealed), with: encryption)
                        #expect(fields.recipients == ["oncall@example.com", "team@example.org"] && fields.links == ["https://grafana.example.org/d/1"])
                        subjects.append(fields.subject)
                    }
                    #expect(subjects.sorted() == ["Patient 4711 drift", "Patient 4712 drift"])
                    var errors: [String] = []
                    let attempts = try await connection.query(
                        "SELECT error, error_encrypted FROM alert_send_attempts WHERE error IS NOT NULL", logger: logger
                    )
                    for try await (error, encrypted) in attempts.decode((String, Bool).self) {
                        #expect(encrypted)
                        errors.append(try encryption.openText(error, encrypted: encrypted))
                    }
                    #expect(errors.sorted() == ["HTTP 400: 'to' parameter is not a valid address: oncall@example.com", "HTTP 503"])
                    let last = try await connection.query("SELECT last_error, last_error_encrypted FROM alert_sends WHERE status = 'failed'", logger: logger)
                    for try await (error, encrypted) in last.decode((String, Bool).self) {
                        #expect(try encryption.openText(error, encrypted: encrypted).hasPrefix("HTTP 400: "))
                    }
                }
            }
        }
    }

    static func push(_ json: String, messageID: String) -> FunctionRequest {
        let data = Data(json.utf8).base64EncodedString()
        let body = #"{"message":{"data":"\#(data)","messageId":"\#(messageID)","attributes":{}},"subscription":"projects/p/subscriptions/alerts"}"#
        return FunctionRequest(method: .post, path: "/", headers: [.contentType: "application/json"], body: Data(body.utf8))
    }

    @Test("an alert pushed three times by Pub/Sub while the provider is slow: one send, the first answer each time")
    func pubSubRedelivery() async throws {
        let sink = WebhookSink { _, _ in .init(status: 202, delay: .milliseconds(800), body: "") }
        try await sink.run { base in
            // A timeout well above the provider's 800 ms: a loaded suite must not turn the one send into a timed-out
            // attempt and a retry (which at-least-once allows, and which is not what this test is about).
            var settings = AlertHarness.settingsSendGrid(base)
            settings.timeout = .seconds(5)
            settings.lease = .seconds(15)
            try await withHarness(settings) { harness in
                let request = Self.push(AlertHarness.alert(), messageID: "4242424242")
                let answers = await withTaskGroup(of: FunctionResponse.self) { group in
                    for _ in 0..<3 { group.addTask { await harness.invoker.invoke(request) } }
                    var all: [FunctionResponse] = []
                    for await answer in group { all.append(answer) }
                    return all
                }
                #expect(answers.allSatisfy { $0.status == .accepted })
                #expect(Set(answers.compactMap { $0.json["id"] as? String }).count == 1)
                // A redelivery after the first answered repeats it exactly.
                let later = await harness.invoker.invoke(request)
                #expect(answers.contains { $0.text == later.text })
                harness.clock.advance(seconds: 3600)
                let report = try await harness.drain()
                #expect(report.claimed == 0)
                #expect(sink.requests.count == 1)
            }
        }
    }

    @Test("an event whose alert can never be valid is 200 and recorded as rejected, without its values; over plain HTTP it is 400")
    func rejectedEvents() async throws {
        try await withHarness(AlertSettings.testing(.console)) { harness in
            let invalid = #"{"alert_type":"x","severity":"loud","subject":"Jane Doe 555-0100","message":"m"}"#
            let pushed = await harness.invoker.invoke(Self.push(invalid, messageID: "m-1"))
            #expect(pushed.status == .ok)
            #expect(pushed.json["status"] as? String == "rejected" && pushed.json["reason"] as? String == "invalid_alert")
            let garbage = await harness.invoker.invoke(
                FunctionRequest(method: .post, path: "/", headers: [.contentType: "application/json"], body: Data(#"{"message":{"data":"%%%","messageId":"m-2"},"subscription":"s"}"#.utf8))
            )
            #expect(garbage.status == .ok && garbage.json["reason"] as? String == "malformed_event", "\(garbage.text)")
            let binary = await harness.invoker.invoke(
                FunctionRequest(
                    method: .post, path: "/",
                    headers: [
                        HTTPField.Name("ce-specversion")!: "1.0", HTTPField.Name("ce-id")!: "e-1", HTTPField.Name("ce-source")!: "//monitor",
                        HTTPField.Name("ce-type")!: "alert.raised", .contentType: "application/json",
                    ],
                    body: Data("not json".utf8)
                )
            )
            #expect(binary.status == .ok && binary.json["status"] as? String == "rejected")
            #expect(await harness.submit(invalid).status == .badRequest)
            let (alerts, rejected, audit) = try await harness.database.withConnection { connection in
                var alerts = 0, rejected = 0
                var audit: [String] = []
                for try await n in try await connection.query("SELECT count(*)::int FROM alerts", logger: TestDatabase.quietLogger).decode(Int.self) { alerts = n }
                for try await n in try await connection.query(
                    "SELECT coalesce(sum(value), 0)::int FROM counters WHERE name = 'events_rejected_total' AND labels->>'function' = 'send-alert'",
                    logger: TestDatabase.quietLogger
                ).decode(Int.self) { rejected = n }
                for try await detail in try await connection.query(
                    "SELECT detail::text FROM audit_events WHERE action = 'event_rejected'", logger: TestDatabase.quietLogger
                ).decode(String.self) { audit.append(detail) }
                return (alerts, rejected, audit)
            }
            #expect(alerts == 0 && rejected == 3 && audit.count == 3)
            #expect(audit.allSatisfy { !$0.contains("Jane") && !$0.contains("555") && !$0.contains("loud") && !$0.contains("m-1") })
        }
    }

    @Test("event ids of any length: a 3 KB id is stored hashed and de-duplicated; a NUL id (the CloudEvents spec forbids control characters) is acknowledged and recorded as malformed; a control character in an HTTP key is a 400")
    func hostileIDs() async throws {
        try await withHarness(AlertSettings.testing(.console)) { harness in
            for id in ["nul\\u0000id", String(repeating: "x", count: 3000)] {
                let body = #"{"specversion":"1.0","id":"\#(id)","source":"//monitor","type":"alert.raised","datacontenttype":"application/json","data":\#(AlertHarness.alert())}"#
                let request = FunctionRequest(
                    method: .post, path: "/", headers: [.contentType: "application/cloudevents+json"], body: Data(body.utf8)
                )
                let first = await harness.invoker.invoke(request)
                if id.count == 3000 {
                    #expect(first.status == .accepted, "\(first.text)")
                } else {
                    #expect(first.status == .ok && first.text.contains("malformed_event"), "\(first.text)")
                }
                #expect(await harness.invoker.invoke(request).text == first.text)
            }
            #expect(await harness.submit(AlertHarness.alert(key: "bad\\u0007key")).status == .badRequest)
        }
    }
}

extension AlertHarness {
    static func settingsSendGrid(_ base: String) -> AlertSettings { AlertSettings.testing(.sendgrid, base: base) }
}

/// Reads multipart/form-data the way a provider would.
enum Multipart {
    struct Part {
        var name: String
        var filename: String?
        var contentType: String?
        var data: Data
        var text: String { String(decoding: data, as: UTF8.self) }
    }

    static func parse(_ body: Data, boundary: String) -> [Part] {
        var parts: [Part] = []
        let delimiter = Data("--\(boundary)".utf8)
        var rest = body[...]
        while let start = rest.range(of: delimiter) {
            rest = rest[start.upperBound...]
            guard rest.starts(with: Data("\r\n".utf8)), let end = rest.range(of: Data("\r\n--\(boundary)".utf8)) else { break }
            let part = rest[(rest.startIndex + 2)..<end.lowerBound]
            guard let split = part.range(of: Data("\r\n\r\n".utf8)) else { continue }
            let headers = String(decoding: part[..<split.lowerBound], as: UTF8.self)
            func value(_ key: String) -> String? {
                guard let range = headers.range(of: "\(key)=\"") else { return nil }
                return String(headers[range.upperBound...].prefix { $0 != "\"" })
            }
            let type = headers.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("content-type:") }
                .map { $0.dropFirst("content-type:".count).trimmingCharacters(in: .whitespaces) }
            parts.append(Part(name: value("name") ?? "", filename: value("filename"), contentType: type, data: Data(part[split.upperBound...])))
            rest = rest[end.lowerBound...]
        }
        return parts
    }
}

/// `pdftotext` (poppler-utils) on a PDF, to prove it opens and says what it should.
enum PDFText {
    static func extract(_ pdf: Data) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pdf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in.pdf")
        let output = folder.appendingPathComponent("out.txt")
        try pdf.write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/pdftotext")
        process.arguments = [input.path, output.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileReadCorruptFile) }
        return try String(contentsOf: output, encoding: .utf8)
    }
}
