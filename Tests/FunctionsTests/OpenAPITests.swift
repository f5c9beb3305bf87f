import Domain
import Foundation
import Store
import Testing
import TestSupport
import Yams

@testable import Functions

/// `openapi.yaml` held against the running functions: every status that comes back is documented for its
/// operation, and every documented status is reached (503s from a second process whose database is down).
@Suite("openapi.yaml against the running functions", .machineShare, .serialized)
struct OpenAPITests {
    struct Call {
        var template: String
        var method: String
        var path: String
        var headers: [(String, String)] = []
        var body: String = ""
    }

    static let token = "openapi-test-internal-token-0123456789"

    func documented() throws -> [String: Set<Int>] {
        let text = try String(contentsOf: FunctionsYAMLTests.packageRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        var statuses: [String: Set<Int>] = [:]
        for (path, value) in paths {
            for (method, operation) in (value as? [String: Any]) ?? [:] where method != "parameters" {
                let responses = ((operation as? [String: Any])?["responses"] as? [String: Any]) ?? [:]
                statuses["\(method.uppercased()) \(path)"] = Set(responses.keys.compactMap { Int($0) })
            }
        }
        return statuses
    }

    func environment(_ databaseURL: String) -> [String: String] {
        [
            "DATABASE_URL": databaseURL, "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000", "PORT": "0", "HOST": "127.0.0.1",
            "LOG_LEVEL": "notice", "INTERNAL_API_TOKEN": Self.token, "MAX_REQUEST_BODY_BYTES": "65536", "DB_ACQUIRE_TIMEOUT_MS": "500",
        ]
    }

    func send(_ call: Call, port: Int) async throws -> Int {
        try await HTTPTestClient.send(port: port, method: call.method, path: call.path, headers: call.headers, body: Data(call.body.utf8)).status
    }

    @Test("every response is documented and every documented status is reached")
    func heldAgainstTheFunctions() async throws {
        let statuses = try documented()
        #expect(statuses.count == 13 && statuses.values.map(\.count).reduce(0, +) == 48, "\(statuses)")
        let configuration = try await TestDatabase.configuration(suite: "openapi")
        let env = environment(configuration.url)
        let stdin = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)")
        try Data("correct horse battery staple\n".utf8).write(to: stdin)
        defer { try? FileManager.default.removeItem(at: stdin) }
        #expect(
            try await ChildProcess(product: "functions", arguments: ["users", "create", "--username", "api-user"], environment: env, standardInput: stdin)
                .waitForExit() == 0
        )
        try Data("the-shared-secret-12345\n".utf8).write(to: stdin)
        #expect(
            try await ChildProcess(
                product: "functions", arguments: ["sources", "add", "--slug", "partner", "--scheme", "hmac-sha256", "--allow", "a.*", "--secret-stdin"],
                environment: env, standardInput: stdin
            ).waitForExit() == 0
        )

        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: env)
        let port = try await server.listeningPort()
        // As Cloud Run's startup probe does: no traffic before /ready (the pool opens once the port is open, and on a
        // loaded machine its first connections can take longer than this test's 500 ms acquire deadline).
        var probes = 0
        while try await HTTPTestClient.send(port: port, method: "GET", path: "/ready").status != 200, probes < 100 {
            probes += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        let json = ("Content-Type", "application/json")
        let bearer = ("Authorization", "Bearer \(Self.token)")
        func signed(_ body: String) -> (String, String) { ("X-Signature", WebhookSignature.hex(body: Data(body.utf8), secret: "the-shared-secret-12345")) }
        let login = try await HTTPTestClient.send(
            port: port, method: "POST", path: "/login/", headers: [json, ("X-Forwarded-For", "192.0.2.1")],
            body: Data(#"{"username":"api-user","password":"correct horse battery staple"}"#.utf8)
        )
        let pair = try #require(try JSONSerialization.jsonObject(with: login.body) as? [String: String], "\(login.status) \(login.text)")
        let refreshToken = try #require(pair["refresh"], "\(login.status) \(login.text)")
        let second = try await HTTPTestClient.send(
            port: port, method: "POST", path: "/login/", headers: [json, ("X-Forwarded-For", "192.0.2.2")],
            body: Data(#"{"username":"api-user","password":"correct horse battery staple"}"#.utf8)
        )
        let revokeToken = try #require((try JSONSerialization.jsonObject(with: second.body) as? [String: String])?["refresh"])
        let big = String(repeating: "x", count: 100_000)
        var calls: [Call] = [
            Call(template: "GET /health", method: "GET", path: "/health"),
            Call(template: "GET /ready", method: "GET", path: "/ready"),
            Call(template: "POST /login/", method: "POST", path: "/login/", headers: [json], body: "{}"),
            Call(template: "POST /login/", method: "POST", path: "/login/", headers: [json, ("X-Forwarded-For", "192.0.2.3")], body: #"{"username":"api-user","password":"wrong"}"#),
            Call(template: "GET /login/", method: "GET", path: "/login/"),
            Call(template: "POST /login/", method: "POST", path: "/login/", headers: [json], body: big),
            Call(template: "POST /login/", method: "POST", path: "/login/", headers: [("Content-Type", "text/plain")], body: "hello"),
            Call(template: "POST /refresh/", method: "POST", path: "/refresh/", headers: [json], body: #"{"refresh":"\#(refreshToken)"}"#),
            Call(template: "POST /refresh/", method: "POST", path: "/refresh/", headers: [json], body: "{}"),
            Call(template: "POST /refresh/", method: "POST", path: "/refresh/", headers: [json], body: #"{"refresh":"garbage"}"#),
            Call(template: "POST /refresh/revoke", method: "POST", path: "/refresh/revoke", headers: [json], body: #"{"refresh":"\#(revokeToken)"}"#),
            Call(template: "POST /refresh/revoke", method: "POST", path: "/refresh/revoke", headers: [json], body: #"{"refresh":"garbage"}"#),
            Call(template: "POST /refresh/verify", method: "POST", path: "/refresh/verify", headers: [json], body: #"{"token":"\#(pair["access"] ?? "")"}"#),
            Call(template: "POST /refresh/verify", method: "POST", path: "/refresh/verify", headers: [json], body: "{}"),
            Call(template: "POST /refresh/verify", method: "POST", path: "/refresh/verify", headers: [json], body: #"{"token":"garbage"}"#),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/partner", headers: [json, signed(#"{"type":"a.b","id":"e1"}"#)], body: #"{"type":"a.b","id":"e1"}"#),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/partner", headers: [json, signed(#"{"type":"z.z","id":"e2"}"#)], body: #"{"type":"z.z","id":"e2"}"#),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/partner", headers: [signed("not json")], body: "not json"),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/partner", headers: [json, ("X-Signature", "00")], body: "{}"),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/nobody", headers: [json], body: "{}"),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/partner", headers: [json], body: big),
            Call(template: "POST /webhook-dispatch/events", method: "POST", path: "/webhook-dispatch/events", headers: [json, bearer], body: #"{"type":"a.b","data":{}}"#),
            Call(template: "POST /webhook-dispatch/events", method: "POST", path: "/webhook-dispatch/events", headers: [json, bearer], body: #"{"data":{}}"#),
            Call(template: "POST /webhook-dispatch/events", method: "POST", path: "/webhook-dispatch/events", headers: [json], body: #"{"type":"a.b","data":{}}"#),
            Call(template: "POST /webhook-dispatch/events", method: "POST", path: "/webhook-dispatch/events", headers: [json, bearer], body: #"{"message":{"data":"e30=","messageId":"m-1"},"subscription":"s"}"#),
            Call(template: "POST /webhook-dispatch/drain", method: "POST", path: "/webhook-dispatch/drain", headers: [bearer]),
            Call(template: "POST /webhook-dispatch/drain", method: "POST", path: "/webhook-dispatch/drain"),
            Call(template: "POST /send-alert/", method: "POST", path: "/send-alert/", headers: [json, bearer], body: #"{"alert_type":"t","severity":"info","subject":"s","message":"m","recipients":["a@example.com"]}"#),
            Call(template: "POST /send-alert/", method: "POST", path: "/send-alert/", headers: [json, bearer], body: #"{"severity":"loud"}"#),
            Call(template: "POST /send-alert/", method: "POST", path: "/send-alert/", headers: [json], body: "{}"),
            Call(template: "POST /send-alert/", method: "POST", path: "/send-alert/", headers: [json, bearer], body: #"{"message":{"data":"e30=","messageId":"m-1"},"subscription":"s"}"#),
            Call(template: "POST /send-alert/drain", method: "POST", path: "/send-alert/drain", headers: [bearer]),
            Call(template: "POST /send-alert/drain", method: "POST", path: "/send-alert/drain"),
            Call(template: "GET /metrics/", method: "GET", path: "/metrics/", headers: [bearer]),
            Call(template: "GET /metrics/", method: "GET", path: "/metrics/"),
        ]
        for _ in 0..<6 {
            calls.append(
                Call(template: "POST /login/", method: "POST", path: "/login/", headers: [json, ("X-Forwarded-For", "198.51.100.9")], body: #"{"username":"ghost","password":"x"}"#)
            )
        }
        var seen: [String: Set<Int>] = ["POST /login/": [200]]
        for call in calls {
            let status = try await send(call, port: port)
            #expect(statuses[call.template]?.contains(status) == true, "\(call.template) answered \(status), which openapi.yaml does not document")
            seen[call.template, default: []].insert(status)
        }
        server.signal(SIGTERM)
        _ = try await server.waitForExit()

        // The same routes with PostgreSQL unreachable: the documented 503s.
        let down = try ChildProcess(
            product: "functions", arguments: ["serve"],
            environment: environment("postgres://u@127.0.0.1:\(try LocalPostgresCluster.freePort())/db?sslmode=disable")
        )
        let downPort = try await down.listeningPort()
        let valid = #"{"refresh":"\#(refreshToken)"}"#
        let downCalls = [
            Call(template: "GET /ready", method: "GET", path: "/ready"),
            Call(template: "POST /login/", method: "POST", path: "/login/", headers: [json], body: #"{"username":"a","password":"b"}"#),
            Call(template: "POST /refresh/", method: "POST", path: "/refresh/", headers: [json], body: valid),
            Call(template: "POST /refresh/revoke", method: "POST", path: "/refresh/revoke", headers: [json], body: valid),
            Call(template: "POST /refresh/verify", method: "POST", path: "/refresh/verify", headers: [json], body: #"{"token":"\#(refreshToken)"}"#),
            Call(template: "POST /webhook-receive/{source}", method: "POST", path: "/webhook-receive/partner", headers: [json], body: "{}"),
            Call(template: "POST /webhook-dispatch/events", method: "POST", path: "/webhook-dispatch/events", headers: [json, bearer], body: #"{"type":"a.b","data":{}}"#),
            Call(template: "POST /webhook-dispatch/drain", method: "POST", path: "/webhook-dispatch/drain", headers: [bearer]),
            Call(template: "POST /send-alert/", method: "POST", path: "/send-alert/", headers: [json, bearer], body: #"{"alert_type":"t","severity":"info","subject":"s","message":"m","recipients":["a@example.com"]}"#),
            Call(template: "POST /send-alert/drain", method: "POST", path: "/send-alert/drain", headers: [bearer]),
            Call(template: "GET /metrics/", method: "GET", path: "/metrics/", headers: [bearer]),
        ]
        for call in downCalls {
            let status = try await send(call, port: downPort)
            #expect(status == 503, "\(call.template) answered \(status) with the database down")
            seen[call.template, default: []].insert(status)
        }
        down.signal(SIGTERM)
        _ = try await down.waitForExit()
        for (operation, documentedStatuses) in statuses {
            let missing = documentedStatuses.subtracting(seen[operation] ?? [])
            #expect(missing.isEmpty, "\(operation): documented but never reached: \(missing.sorted())")
        }
    }
}
