import Domain
import Foundation
import Logging
import Outbound
import Runtime
import ServiceLifecycle
import Testing
import TestSupport

@testable import Functions

@Suite("Sentry envelopes and PHI kept out of logs, end to end", .machineShare, .serialized)
struct ObservabilityEndToEndTests {
    struct Leaky: Error, CustomStringConvertible {
        var description: String { "failed for jane.doe@example.com, SSN 123-45-6789, born 1980-02-29, MRN 99887766" }
    }

    struct Exploding: HTTPFunction {
        let name = "exploding"
        func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse { throw Leaky() }
    }

    @Test("an unexpected error reaches a local fake Sentry as a scrubbed, allow-listed envelope")
    func sentryEnvelope() async throws {
        let sink = WebhookSink()
        try await sink.run { base in
            let port = sink.port.withLock { $0 }
            let dsn = try #require(SentryReporter.DSN("http://publickey@127.0.0.1:\(port)/42"))
            #expect(dsn.envelopeURL == "http://127.0.0.1:\(port)/api/42/envelope/")
            var quiet = Logger(label: "sentry")
            quiet.logLevel = .critical
            let providers = ProviderClient()
            let reporter = SentryReporter(
                dsn: dsn, facts: .init(release: "1.2.3", environment: "test", service: "login", revision: "login-7"), providers: providers,
                logger: quiet
            )
            let invoker = FunctionInvoker(
                registry: try FunctionRegistry(functions: [Exploding()], target: "exploding"), logger: quiet, reporter: reporter
            )
            let group = ServiceGroup(services: [providers, reporter], logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let response = await invoker.invoke(
                    FunctionRequest(
                        method: .post, path: "/", query: "email=jane.doe@example.com",
                        headers: [.cookie: "session=secret", RequestID.headerName: "req-sentry-1"],
                        body: Data(#"{"patient":"Jane Doe","email":"jane.doe@example.com"}"#.utf8)
                    )
                )
                #expect(response.status == .internalServerError)
                try await waitUntil(timeout: .seconds(10)) { !sink.requests.isEmpty }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let request = try #require(sink.requests.first)
            #expect(request.path == "/api/42/envelope/")
            #expect(request.headers["content-type"] == "application/x-sentry-envelope")
            #expect(request.headers["x-sentry-auth"]?.contains("sentry_key=publickey") == true)
            let text = String(decoding: request.body, as: UTF8.self)
            let lines = text.split(separator: "\n")
            #expect(lines.count == 3)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as? [String: Any])
            #expect(event["release"] as? String == "1.2.3" && event["environment"] as? String == "test")
            #expect((event["tags"] as? [String: String])?["request_id"] == "req-sentry-1")
            #expect((event["tags"] as? [String: String])?["revision"] == "login-7")
            for secret in ["jane.doe@example.com", "123-45-6789", "1980-02-29", "99887766", "Jane Doe", "session=secret"] {
                #expect(!text.contains(secret), "\(secret) leaked into the envelope")
            }
            #expect(text.contains("[EMAIL]") && text.contains("[SSN]"))
        }
    }

    @Test("every function run with PHI-laden input leaves none of it in the logs")
    func noPHIInLogs() async throws {
        let logs = LogOutput.capturing()
        let phi = ["jane.doe@example.com", "123-45-6789", "1980-02-29", "(555) 867-5309", "MRN 99887766", "Jane Doe"]
        try await TestDatabase.with(suite: "phi-\(UUID().uuidString.prefix(8))") { database in
            var configuration = try AppConfiguration(environment: [
                "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000", "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey,
                "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "LOG_LEVEL": "debug",
            ])
            configuration.database = nil
            let logger = Logger(label: "phi") { CloudLogHandler(label: $0, level: .debug, settings: .init(), output: logs) }
            let runtime = try Server.makeRuntime(configuration: configuration, database: database, providers: .forTests, logger: logger)
            let payload = #"{"username":"Jane Doe jane.doe@example.com","password":"123-45-6789","note":"born 1980-02-29, call (555) 867-5309, MRN 99887766"}"#
            let requests: [FunctionRequest] = [
                FunctionRequest(method: .post, path: "/login/", headers: [.contentType: "application/json"], body: Data(payload.utf8)),
                FunctionRequest(method: .post, path: "/login/", headers: [.contentType: "application/json"], body: Data("{jane.doe@example.com".utf8)),
                FunctionRequest(method: .post, path: "/refresh/", headers: [.contentType: "application/json"], body: Data(#"{"refresh":"jane.doe@example.com 123-45-6789"}"#.utf8)),
                FunctionRequest(method: .post, path: "/webhook-receive/jane.doe@example.com", body: Data(payload.utf8)),
                FunctionRequest(method: .post, path: "/webhook-dispatch/events", headers: [.contentType: "application/json"], body: Data(#"{"type":"patient.updated","data":\#(payload)}"#.utf8)),
                FunctionRequest(method: .post, path: "/webhook-dispatch/events", headers: [.contentType: "application/json"], body: Data(#"{"type":"Jane Doe 123-45-6789","data":1}"#.utf8)),
                FunctionRequest(method: .post, path: "/send-alert/", headers: [.contentType: "application/json"], body: Data(#"{"alert_type":"phi","severity":"info","subject":"Jane Doe 1980-02-29","message":"call (555) 867-5309 about MRN 99887766","recipients":["jane.doe@example.com"]}"#.utf8)),
                FunctionRequest(method: .post, path: "/send-alert/", headers: [.contentType: "application/json"], body: Data(#"{"severity":"jane.doe@example.com"}"#.utf8)),
                FunctionRequest(method: .get, path: "/metrics/"),
            ]
            for request in requests {
                let response = await runtime.invoker.invoke(request)
                #expect(response.status.code < 500, "\(request.path) → \(response.status)")
            }
        }
        let text = logs.lines.joined()
        #expect(!text.isEmpty)
        // The failed login's audit record has its line, which the audit sink routes (jsonPayload.audit), without
        // the username or address it was tried with.
        let audit = logs.lines.filter { $0.contains(#""audit":"true""#) }
        #expect(audit.contains { $0.contains(#""action":"login""#) && $0.contains(#""outcome":"failure""#) }, "\(audit)")
        for secret in phi {
            #expect(!text.contains(secret), "\(secret) appeared in the logs")
        }
    }
}

@Suite("Configuration guards for real data", .machineShare)
struct RealDataGuardTests {
    @Test("REAL_DATA_MODE refuses to start without FIELD_ENCRYPTION_KEY or with the console email backend")
    func guards() {
        #expect(throws: ConfigurationError.self) { try AppConfiguration(environment: ["REAL_DATA_MODE": "true"]) }
        #expect(throws: ConfigurationError.self) {
            try AppConfiguration(environment: ["REAL_DATA_MODE": "true", "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey])
        }
        #expect(throws: Never.self) {
            try AppConfiguration(environment: [
                "REAL_DATA_MODE": "true", "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey, "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
                "MAILGUN_API_KEY": "k", "MAILGUN_DOMAIN": "mg.example.org",
            ])
        }
        // FIELD_ENCRYPTION_KEYS: newest first, each a Fernet key; not beside FIELD_ENCRYPTION_KEY.
        let mailgun = ["EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend", "MAILGUN_API_KEY": "k", "MAILGUN_DOMAIN": "mg.example.org"]
        let newer = Fernet.generateKey()
        let rotating = try? AppConfiguration(
            environment: mailgun.merging(["REAL_DATA_MODE": "true", "FIELD_ENCRYPTION_KEYS": "\(newer), \(WebhookHarness.fernetKey)"]) { $1 }
        )
        let sealed = try? rotating?.encryption.sealSecret("s").text
        #expect(sealed.flatMap { try? Fernet(key: newer).decryptString($0) } == "s")
        for bad in [["FIELD_ENCRYPTION_KEYS": "\(newer),short"], ["FIELD_ENCRYPTION_KEYS": newer, "FIELD_ENCRYPTION_KEY": newer]] {
            let error = #expect(throws: ConfigurationError.self) { try AppConfiguration(environment: mailgun.merging(bad) { $1 }) }
            #expect(error.map { "\($0)" }?.contains(newer) == false)
        }
        #expect(throws: ConfigurationError.self) { try AppConfiguration(environment: ["SENTRY_DSN": "not a dsn"]) }
        #expect(throws: ConfigurationError.self) { try AppConfiguration(environment: ["EMAIL_BACKEND": "sendgrid"]) }
        #expect(throws: ConfigurationError.self) { try AppConfiguration(environment: ["SLACK_ENABLED": "true"]) }
    }
}
