import Domain
import Foundation
import Logging
import Runtime
import Store
import Testing
import TestSupport

@testable import Functions

/// Checks an exposition the way Prometheus would read it: HELP and TYPE before each family, counters end in
/// `_total`, no duplicate series, numeric values, a final newline.
enum ExpositionCheck {
    static func problems(_ text: String) -> [String] {
        var problems: [String] = []
        if !text.isEmpty && !text.hasSuffix("\n") { problems.append("no final newline") }
        var helped = Set<String>()
        var typed: [String: String] = [:]
        var series = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") {
                helped.insert(String(line.dropFirst(7).split(separator: " ")[0]))
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                guard parts.count == 2, ["counter", "gauge"].contains(parts[1]) else { problems.append("bad TYPE: \(line)"); continue }
                typed[String(parts[0])] = String(parts[1])
            } else {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                guard helped.contains(name), let type = typed[name] else { problems.append("sample before HELP/TYPE: \(line)"); continue }
                if type == "counter" && !name.hasSuffix("_total") { problems.append("counter without _total: \(name)") }
                guard let space = line.lastIndex(of: " "), Double(line[line.index(after: space)...]) != nil else {
                    problems.append("bad value: \(line)")
                    continue
                }
                let key = String(line[..<space])
                if !series.insert(key).inserted { problems.append("duplicate series: \(key)") }
            }
        }
        // OpenMetrics (and the clients that read it) name a counter's family without `_total`: a gauge of that name
        // would be the same family.
        for (name, type) in typed where type == "counter" && typed[String(name.dropLast(6))] != nil {
            problems.append("\(name) and \(name.dropLast(6)) are one family under OpenMetrics")
        }
        return problems
    }

    /// What Python's `prometheus_client` parser makes of the page: its error, or families it reads twice.
    static func pythonClientProblems(_ text: String) async throws -> String {
        let script = """
            import sys
            from collections import Counter
            from prometheus_client.parser import text_string_to_metric_families
            names = Counter(f.name for f in text_string_to_metric_families(sys.stdin.read()))
            print(" ".join(sorted(n for n, c in names.items() if c > 1)))
            """
        let (status, output) = try await Python.run(script, input: text)
        let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return status == 0 && trimmed.isEmpty ? "" : "exit \(status): \(trimmed)"
    }

    static func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

@Suite("metrics: one snapshot, every family well formed, counters move as the functions act", .machineShare)
struct MetricsTests {
    @Test("every family the page can carry, all at once: no two collide under OpenMetrics, promtool and prometheus_client read it")
    func everyFamilyAtOnce() async throws {
        let samples = PrometheusText.help.keys.map { MetricsSnapshot.Sample(name: $0, labels: [:], value: 1, kind: $0.hasSuffix("_total") ? "counter" : "gauge") }
        let page = PrometheusText.render(samples)
        #expect(ExpositionCheck.problems(page) == [])
        #expect(try await Promtool.check(page) == "")
        #expect(try await ExpositionCheck.pythonClientProblems(page) == "")
        // The check can fail: the gauge this page once had beside its counter.
        let clash = PrometheusText.render(samples + [MetricsSnapshot.Sample(name: "webhook_endpoints_disabled", labels: [:], value: 1, kind: "gauge")])
        #expect(ExpositionCheck.problems(clash).contains { $0.contains("one family") })
        #expect(try await ExpositionCheck.pythonClientProblems(clash).contains("webhook_endpoints_disabled"))
    }

    @Test("after logins, refreshes, webhooks and alerts the exposition is clean and the numbers match")
    func exposition() async throws {
        try await TestDatabase.with(suite: "metrics-\(UUID().uuidString.prefix(8))") { database in
            let auth = try AuthHarness(database: database)
            let user = try await auth.makeUser()
            let tokens = try await auth.tokens(for: user)
            _ = await auth.login(user.username, "wrong password")
            _ = await auth.refresh(tokens.refresh)
            _ = await auth.refresh(tokens.refresh)
            let hooks = try WebhookHarness(database: database)
            let (slug, secret) = try await hooks.addSource()
            _ = await hooks.receive(slug: slug, secret: secret, body: #"{"type":"a.b"}"#, id: "m1")
            _ = await hooks.receive(slug: slug, secret: secret, body: #"{"type":"a.b"}"#, id: "m1")
            _ = try await hooks.addEndpoint(url: "http://127.0.0.1:9/x", types: ["a.*"])
            _ = await hooks.publish(#"{"type":"a.c","data":{}}"#)
            let alerts = try AlertHarness(database: database, settings: .testing(.console))
            _ = await alerts.submit(AlertHarness.alert())

            let metrics = Metrics(database: database, access: PrivateAccess(token: "a-very-long-internal-token-for-tests-0001"))
            let invoker = FunctionInvoker(registry: try FunctionRegistry(functions: [metrics], target: "metrics"), logger: Logger(label: "m"), errorMapper: Answers.error(for:))
            let unauthorized = await invoker.invoke(FunctionRequest(method: .get, path: "/"))
            #expect(unauthorized.status == .unauthorized)
            let response = await invoker.invoke(
                FunctionRequest(method: .get, path: "/", headers: [.authorization: "Bearer a-very-long-internal-token-for-tests-0001"])
            )
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            let text = response.text
            #expect(ExpositionCheck.problems(text) == [])
            #expect(try await Promtool.check(text) == "")
            #expect(ExpositionCheck.value(text, #"auth_login_total{outcome="success"}"#) == 1)
            #expect(ExpositionCheck.value(text, #"auth_login_total{outcome="failure"}"#) == 1)
            #expect(ExpositionCheck.value(text, #"auth_refresh_total{outcome="success"}"#) == 1)
            #expect(ExpositionCheck.value(text, #"auth_refresh_total{outcome="reuse_detected"}"#) == 1)
            #expect(ExpositionCheck.value(text, #"webhook_received_total{outcome="accepted",source="\#(slug)"}"#) == 1)
            #expect(ExpositionCheck.value(text, #"webhook_received_total{outcome="duplicate",source="\#(slug)"}"#) == 1)
            #expect(ExpositionCheck.value(text, "webhook_deliveries_due") == 1)
            #expect(ExpositionCheck.value(text, #"alert_sends_total{channel="email",outcome="sent"}"#) == 1)
            #expect(ExpositionCheck.value(text, #"alerts_total{severity="critical"}"#) == 1)
            #expect(ExpositionCheck.value(text, "auth_refresh_families_live") == 0)
            #expect(text.contains("# TYPE webhook_deliveries_oldest_due_seconds gauge"))
        }
    }

    @Test("every series the dashboard plots is one the functions expose, with its help text")
    func dashboard() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("dashboards/functions.json"))
        let panels = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["panels"] as? [[String: Any]])
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count >= 14)
        let functions = Set(["sum", "rate", "increase", "max", "clamp_min", "by", "outcome", "source", "channel", "severity"])
        let names = Set(expressions.flatMap { expression in
            expression.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init)
                .filter { $0.contains("_") && !functions.contains($0) && $0.first?.isLetter == true }
        })
        for name in names { #expect(PrometheusText.help[name] != nil, "the dashboard plots \(name), which nothing exposes") }
        for name in ["webhook_events_forwarded_total", "webhook_consumer_attempts_total", "webhook_forwarding_backlog", "webhook_forwarding_backlog_age_seconds"] {
            #expect(names.contains(name))
        }
    }

    @Test("the checker itself refuses malformed expositions")
    func checkerFails() async throws {
        #expect(!ExpositionCheck.problems("x_total 1\n").isEmpty)
        #expect(!ExpositionCheck.problems("# HELP x h\n# TYPE x counter\nx 1\n").isEmpty)
        #expect(!ExpositionCheck.problems("# HELP x_total h\n# TYPE x_total counter\nx_total 1\nx_total 2\n").isEmpty)
        #expect(!ExpositionCheck.problems("# HELP g h\n# TYPE g gauge\ng one\n").isEmpty)
        #expect(ExpositionCheck.problems("# HELP g h\n# TYPE g gauge\ng 1\n").isEmpty)
        #expect(try await Promtool.check("x_total 1\n") != "")
        #expect(try await Promtool.check("# HELP a_total h\n# TYPE a_total counter\na_total 1\n") == "")
    }
}

@Suite("metrics across processes, linted by promtool", .machineShare, .serialized)
struct MetricsProcessTests {
    @Test("two server processes on one database count together and answer the same page, which promtool accepts")
    func twoProcesses() async throws {
        let configuration = try await TestDatabase.configuration(suite: "metrics-processes")
        let environment = [
            "DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000", "PORT": "0",
            "HOST": "127.0.0.1", "LOG_LEVEL": "notice",
        ]
        let first = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        let second = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        let ports = [try await first.listeningPort(), try await second.listeningPort()]
        for (index, port) in ports.enumerated() {
            let response = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/login/", headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "192.0.2.\(index + 50)")],
                body: Data(#"{"username":"nobody-\#(index)","password":"wrong"}"#.utf8)
            )
            #expect(response.status == 401)
        }
        let pages = [
            try await HTTPTestClient.send(port: ports[0], path: "/metrics/").text,
            try await HTTPTestClient.send(port: ports[1], path: "/metrics/").text,
        ]
        #expect(pages[0] == pages[1])
        #expect(ExpositionCheck.value(pages[0], #"auth_login_total{outcome="failure"}"#) == 2)
        #expect(ExpositionCheck.problems(pages[0]) == [])
        #expect(try await Promtool.check(pages[0]) == "")
        first.signal(SIGTERM)
        second.signal(SIGTERM)
        _ = try await first.waitForExit()
        _ = try await second.waitForExit()
    }
}

/// `promtool check metrics` (Debian's prometheus package): its complaints, empty when the page is clean.
enum Promtool {
    static func check(_ exposition: String) async throws -> String {
        try await offCooperativePool { try checkBlocking(exposition) }
    }

    private static func checkBlocking(_ exposition: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            return "promtool is not installed (apt-get install -y prometheus): the exposition was not linted"
        }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("exposition-\(UUID().uuidString).txt")
        try Data(exposition.utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("promtool-\(UUID().uuidString).txt")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = ["check", "metrics"]
        process.standardInput = try FileHandle(forReadingFrom: input)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let text = try String(contentsOf: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && text.isEmpty ? "" : "exit \(process.terminationStatus): \(text)"
    }
}
