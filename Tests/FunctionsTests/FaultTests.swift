import Domain
import Foundation
import PostgresNIO
import Primitives
import Store
import Synchronization
import Testing
import TestSupport

@testable import Functions

/// Faults, as the test suite can stage them on one machine: PostgreSQL stopped and restarted under load,
/// SIGTERM under load, and a flood of hostile requests.
@Suite("faults under load (real processes)", .machineShare, .serialized)
struct FaultTests {
    static let token = "fault-test-internal-token-0123456789abc"

    func environment(_ url: String, _ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "DATABASE_URL": url, "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000", "PORT": "0", "HOST": "127.0.0.1",
            "LOG_LEVEL": "notice", "DB_ACQUIRE_TIMEOUT_MS": "500", "DB_CALL_TIMEOUT_MS": "5000", "INTERNAL_API_TOKEN": Self.token, "MAX_REQUEST_BODY_BYTES": "65536",
        ]
        environment.merge(extra) { _, new in new }
        return environment
    }

    @Test("PostgreSQL stopped and restarted under load: 503 with Retry-After while down, recovery without restart, no accepted write lost")
    func postgresRestart() async throws {
        let folder = URL(fileURLWithPath: "/tmp").appendingPathComponent("functions-fault-pg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cluster = try LocalPostgresCluster(directory: folder, ephemeral: false)
        let admin = try cluster.start()
        defer { try? cluster.stop() }
        let logger = TestDatabase.quietLogger
        let database = try Database(configuration: admin, logger: logger)
        try await Migrate.running(database) {
            try await Migrator(database: database, logger: logger).migrate()
            try await database.withConnection { connection in
                _ = try await WebhookSourceStore(encryption: .none).add(
                    slug: "load", scheme: .hmacSHA256, secret: "fault-shared-secret-0001", allowedEventTypes: [], on: connection, logger: logger
                )
            }
        }
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(admin.url))
        let port = try await server.listeningPort()
        // Whatever ends this test early, the server's own output is kept for the reader.
        defer { try? server.text.write(toFile: "/tmp/functions-fault-server.log", atomically: true, encoding: .utf8) }
        let accepted = Locked<[String]>([])
        let unavailable = Locked(0)
        let bad = Locked<[String]>([])
        let stop = Locked(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var index = 0
                    while !stop.withLock({ $0 }) {
                        index += 1
                        let id = "w\(worker)-\(index)"
                        let body = #"{"id":"\#(id)","type":"load.test"}"#
                        let signature = WebhookSignature.hex(body: Data(body.utf8), secret: "fault-shared-secret-0001")
                        guard let response = try? await HTTPTestClient.send(
                            port: port, method: "POST", path: "/webhook-receive/load", headers: [("X-Signature", signature)], body: Data(body.utf8)
                        ) else { continue }
                        switch response.status {
                        case 202: accepted.withLock { $0.append(id) }
                        case 503:
                            if response.headers["retry-after"] == nil { bad.withLock { $0.append("503 without Retry-After") } }
                            unavailable.withLock { $0 += 1 }
                        default: bad.withLock { $0.append("\(response.status) \(response.text)") }
                        }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
            }
            // Writes accepted before the stop (a fixed wait saw only three under the whole suite's load).
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(50)) { accepted.withLock { $0.count } >= 10 }
            try cluster.stop()
            try await Task.sleep(for: .milliseconds(1500))
            let ready = try await HTTPTestClient.send(port: port, path: "/ready")
            #expect(ready.status == 503)
            _ = try cluster.start(port: admin.port)
            // Recovery without a restart of the functions: wait until a write is accepted again.
            let resumed = accepted.withLock { $0.count }
            try await waitUntil(timeout: .seconds(30), every: .milliseconds(100)) { accepted.withLock { $0.count } > resumed + 5 }
            stop.withLock { $0 = true }
            try await group.waitForAll()
        }
        #expect(bad.withLock { $0 } == [])
        #expect(unavailable.withLock { $0 } > 0)
        let ids = accepted.withLock { $0 }
        #expect(ids.count > 10)
        let reader = try Database(configuration: admin, logger: logger)
        let stored = try await Migrate.running(reader) {
            try await reader.withConnection { connection in
                var found = Set<String>()
                for try await id in try await connection.query("SELECT message_id FROM webhook_events", logger: logger).decode(String.self) {
                    found.insert(id)
                }
                return found
            }
        }
        #expect(Set(ids).isSubset(of: stored), "every 202 must be stored: \(Set(ids).subtracting(stored).prefix(5))")
        #expect(try await HTTPTestClient.send(port: port, path: "/ready").status == 200)
        server.signal(SIGTERM)
        let status = try await server.waitForExit(timeout: .seconds(60))
        // A crash prints its reason and the crashed thread's frames before the image list: show those.
        let lines = server.text.split(separator: "\n")
        let crash = lines.firstIndex { $0.contains("Fatal error") || $0.contains("💣") || $0.contains("crashed") }
        if status != 0 { try? server.text.write(toFile: "/tmp/functions-fault-server.log", atomically: true, encoding: .utf8) }
        #expect(status == 0, "\((crash.map { lines[$0...].prefix(40) } ?? lines.suffix(8)).joined(separator: "\n"))")
    }

    @Test("SIGTERM under load: no accepted request fails")
    func sigtermUnderLoad() async throws {
        let configuration = try await TestDatabase.configuration(suite: "faults")
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration.url))
        let port = try await server.listeningPort()
        let failures = Locked<[String]>([])
        let answered = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<200 {
                        do {
                            let response = try await HTTPTestClient.send(port: port, path: "/metrics/", headers: [("Authorization", "Bearer \(Self.token)")])
                            if response.status != 200 { failures.withLock { $0.append("\(response.status)") } }
                            answered.withLock { $0 += 1 }
                        } catch {
                            return  // refused: the server stopped accepting, which is allowed
                        }
                    }
                }
            }
            // Under load means while requests are being answered: signalled once 40 have been, not after a fixed pause.
            try await waitUntil(timeout: .seconds(30)) { answered.withLock { $0 } >= 40 }
            server.signal(SIGTERM)
            try await group.waitForAll()
        }
        #expect(try await server.waitForExit() == 0)
        #expect(answered.withLock { $0 } >= 40)
        #expect(failures.withLock { $0 } == [])
    }

    @Test("10,000 malformed, oversized and hostile requests across all functions: no 5xx and no crash", .wholeMachine)
    func hostileFlood() async throws {
        let configuration = try await TestDatabase.configuration(suite: "faults")
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(configuration.url))
        let port = try await server.listeningPort()
        let paths = [
            "/login/", "/refresh/", "/refresh/revoke", "/webhook-receive/x", "/webhook-receive/", "/webhook-dispatch/events",
            "/webhook-dispatch/drain", "/send-alert/", "/send-alert/drain", "/metrics/", "/nothing", "/login/../../etc/passwd",
            "/%00", "/" + String(repeating: "a", count: 2000),
        ]
        let bodies = [
            "", "{", "[]", "null", "{\"username\":[1,2],\"password\":{}}", String(repeating: "[", count: 5000), "\u{0}\u{1}\u{2}",
            "{\"refresh\":\"eyJhbGciOiJub25lIn0.e30.\"}", "{\"type\":\"a.b\",\"data\":" + String(repeating: "{\"a\":", count: 200) + "1" + String(repeating: "}", count: 200) + "}",
            String(repeating: "x", count: 70_000), "{\"alert_type\":\"x\",\"severity\":\"info\",\"subject\":\"s\",\"message\":\"m\",\"recipients\":[\"bad\"]}",
            "username=%FF%FE&password=%00", "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nx\r\n--b--\r\n",
        ]
        let contentTypes = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain",
            "application/cloudevents+json", "application/cloudevents-batch+json", ""]
        let methods = ["POST", "GET", "PUT", "DELETE", "PATCH"]
        let serverErrors = Locked<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var generator = SystemRandomNumberGenerator()
                    for index in 0..<1250 {
                        let path = paths[Int.random(in: 0..<paths.count, using: &generator)]
                        let body = bodies[Int.random(in: 0..<bodies.count, using: &generator)]
                        let type = contentTypes[Int.random(in: 0..<contentTypes.count, using: &generator)]
                        var headers: [(String, String)] = type.isEmpty ? [] : [("Content-Type", type)]
                        if index % 3 == 0 { headers.append(("Authorization", "Bearer \(Self.token)")) }
                        if index % 5 == 0 { headers += [("ce-specversion", "1.0"), ("ce-id", "%ZZ"), ("ce-source", ""), ("ce-type", "x")] }
                        if index % 7 == 0 { headers.append(("X-Forwarded-For", "\(worker).\(index).0.1, evil")) }
                        if index % 11 == 0 { headers.append(("traceparent", "00-zz-yy-01")) }
                        let method = methods[Int.random(in: 0..<methods.count, using: &generator)]
                        let response = try await HTTPTestClient.send(port: port, method: method, path: path, headers: headers, body: Data(body.utf8))
                        if response.status >= 500 { serverErrors.withLock { $0.append("\(method) \(path) \(type) → \(response.status) \(response.text.prefix(120))") } }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(serverErrors.withLock { Array($0.prefix(10)) } == [])
        #expect(try await HTTPTestClient.send(port: port, path: "/health").status == 200)
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }

    /// Text that ends lines or controls terminals where one line or plain text belongs, in every field of every
    /// function's input: a 4xx naming the field, or (where the field is not ours to judge, a password) an ordinary
    /// answer; never a 5xx.
    static let hostileTexts = [
        #"\u0000"#, #"a\u0000b"#, #"Hello\r\nBcc: victim@example.com"#, #"\u2028"#, #"\u2029"#, #"\u0085"#, #"\u001b[31m"#, #"\u007f"#,
        #"\u009b"#, #"\ud800"#, #"\uffff"#, "\u{202E}txt.exe", String(repeating: "x", count: 3000),
    ]

    @Test("a hostile-text corpus (NUL, CR LF, U+0085, U+2028, U+2029, escapes, lone surrogates, 3 KB) in every field of every function: no 5xx")
    func hostileTextCorpus() async throws {
        let configuration = try await TestDatabase.configuration(suite: "faults")
        let env = environment(configuration.url)
        let stdin = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: stdin) }
        try Data("the-shared-secret-12345\n".utf8).write(to: stdin)
        let slug = "corpus-\(UInt32.random(in: 0...UInt32.max))"
        #expect(
            try await ChildProcess(
                product: "functions", arguments: ["sources", "add", "--slug", slug, "--scheme", "hmac-sha256", "--secret-stdin"],
                environment: env, standardInput: stdin
            ).waitForExit() == 0
        )
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: env)
        let port = try await server.listeningPort()
        let json = ("Content-Type", "application/json")
        let bearer = ("Authorization", "Bearer \(Self.token)")
        var requests: [(String, [(String, String)], String)] = []
        func alert(_ field: String, _ value: String) -> String {
            var fields = [
                "alert_type": #""t""#, "severity": #""info""#, "subject": #""s""#, "message": #""m""#, "recipients": #"["a@example.com"]"#,
            ]
            fields[field] = value
            return "{" + fields.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        }
        for text in Self.hostileTexts {
            let quoted = "\"" + text + "\""
            requests += [
                ("/login/", [json, ("X-Forwarded-For", "198.51.100.\(requests.count % 250)")], #"{"username":\#(quoted),"password":"x"}"#),
                ("/login/", [json, ("X-Forwarded-For", "198.51.100.\(requests.count % 250)")], #"{"username":"nobody","password":\#(quoted)}"#),
                ("/refresh/", [json], #"{"refresh":\#(quoted)}"#),
                ("/refresh/revoke", [json], #"{"refresh":\#(quoted)}"#),
                ("/refresh/verify", [json], #"{"token":\#(quoted)}"#),
                ("/webhook-dispatch/events", [json, bearer], #"{"type":\#(quoted),"data":{}}"#),
                ("/webhook-dispatch/events", [json, bearer], #"{"type":"a.b","data":{"x":\#(quoted)}}"#),
                ("/webhook-dispatch/events", [json, bearer], #"{"type":"a.b","data":\#(quoted)}"#),
                ("/webhook-dispatch/events", [json, bearer], #"{"type":"a.b","data":{},"idempotency_key":\#(quoted)}"#),
                (
                    "/webhook-dispatch/events", [("Content-Type", "application/cloudevents+json"), bearer],
                    #"{"specversion":"1.0","id":\#(quoted),"source":\#(quoted),"type":"a.b","data":{"x":\#(quoted)}}"#
                ),
                (
                    "/webhook-dispatch/events", [json, bearer, ("ce-specversion", "1.0"), ("ce-id", "%00%E2%80%A8"), ("ce-source", "%0D%0A"), ("ce-type", "a.b")],
                    #"{"type":"a.b","data":{"x":\#(quoted)}}"#
                ),
                (
                    "/webhook-dispatch/events", [json, bearer],
                    #"{"message":{"data":"\#(Data(#"{"type":"a.b","data":{"x":\#(quoted)}}"#.utf8).base64EncodedString())","messageId":\#(quoted),"attributes":{"type":\#(quoted)}},"subscription":"s"}"#
                ),
                ("/send-alert/", [json, bearer], #"{"message":{"data":"\#(Data(alert("subject", quoted).utf8).base64EncodedString())","messageId":\#(quoted)},"subscription":"s"}"#),
                (
                    "/webhook-receive/\(slug)",
                    [json, ("X-Signature", WebhookSignature.hex(body: Data(#"{"type":\#(quoted),"id":\#(quoted),"x":\#(quoted)}"#.utf8), secret: "the-shared-secret-12345"))],
                    #"{"type":\#(quoted),"id":\#(quoted),"x":\#(quoted)}"#
                ),
                (
                    "/webhook-receive/\(slug)",
                    [json, ("X-Signature", WebhookSignature.hex(body: Data(#"{"type":"a.b","data":{"x":\#(quoted)}}"#.utf8), secret: "the-shared-secret-12345")), ("X-Event-ID", "x")],
                    #"{"type":"a.b","data":{"x":\#(quoted)}}"#
                ),
            ]
            for field in ["alert_type", "severity", "subject", "message", "idempotency_key"] {
                requests.append(("/send-alert/", [json, bearer], alert(field, quoted)))
            }
            requests.append(("/send-alert/", [json, bearer], alert("recipients", "[\(quoted)]")))
            requests.append(("/send-alert/", [json, bearer], alert("recipients", #"["a\#(text)@example.com"]"#)))
            requests.append(("/send-alert/", [json, bearer], alert("links", #"["https://example.com/\#(text)"]"#)))
        }
        var serverErrors: [String] = []
        var statuses: [Int: Int] = [:]
        for (path, headers, body) in requests {
            let response = try await HTTPTestClient.send(port: port, method: "POST", path: path, headers: headers, body: Data(body.utf8))
            statuses[response.status, default: 0] += 1
            if response.status >= 500 { serverErrors.append("\(path) \(body.prefix(160)) → \(response.status) \(response.text.prefix(120))") }
        }
        #expect(serverErrors == [], "\(serverErrors.count) of \(requests.count) answered 5xx")
        #expect(statuses[400, default: 0] > requests.count / 4, "\(statuses)")
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)
    }
}
