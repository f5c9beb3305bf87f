import Domain
import Foundation
import Store
import Testing
import TestSupport

@testable import Functions

/// Spans as Cloud Trace would get them: `functions serve` processes exporting to a local OTLP/HTTP receiver
/// (`Tests/Tracing/otlp-receiver.py`, which decodes with the opentelemetry-proto package).
@Suite("traces: requests, database calls and partners in one trace, exported as OTLP", .machineShare, .serialized)
struct TracingTests {
    /// One exported span, as the receiver wrote it.
    struct Span {
        var traceID, spanID, parentID, name: String
        var kind, status: Int
        var attributes: [String: Any]
        var events: [String]
        var resource: [String: Any]
    }

    /// The receiver, the file it writes, and what it has written.
    final class Receiver {
        let process: ChildProcess
        let file: URL
        let port: Int

        init() async throws {
            file = FileManager.default.temporaryDirectory.appendingPathComponent("spans-\(UUID().uuidString).jsonl")
            let script = FunctionsYAMLTests.packageRoot.appendingPathComponent("Tests/Tracing/otlp-receiver.py").path
            process = try ChildProcess(command: "python3", arguments: [script, file.path])
            port = try await TracingTests.listeningPort(of: process)
        }

        var lines: [[String: Any]] {
            let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        var spans: [Span] {
            lines.filter { $0["raw"] == nil }.map { line in
                Span(
                    traceID: line["trace_id"] as? String ?? "", spanID: line["span_id"] as? String ?? "",
                    parentID: line["parent_span_id"] as? String ?? "", name: line["name"] as? String ?? "",
                    kind: line["kind"] as? Int ?? -1, status: line["status"] as? Int ?? -1,
                    attributes: line["attributes"] as? [String: Any] ?? [:], events: line["events"] as? [String] ?? [],
                    resource: line["resource"] as? [String: Any] ?? [:]
                )
            }
        }

        /// Every export request's bytes, as received.
        var raw: Data {
            Data(lines.compactMap { $0["raw"] as? String }.flatMap { hex in
                stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
                    let start = hex.index(hex.startIndex, offsetBy: offset)
                    return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)
                }
            })
        }

        deinit { try? FileManager.default.removeItem(at: file) }
    }

    /// The port a helper script prints first, as `listening on PORT`.
    static func listeningPort(of process: ChildProcess) async throws -> Int {
        try await process.waitForOutput("listening on ")
        let line = try #require(process.text.split(separator: "\n").first { $0.hasPrefix("listening on ") })
        return try #require(Int(line.dropFirst("listening on ".count)))
    }

    /// OpenTelemetry's span kinds and status codes, as OTLP numbers them.
    static let server = 2, client = 3, statusError = 2

    func environment(_ configuration: DatabaseConfiguration, target: String, otlpPort: Int?) -> [String: String] {
        var environment = [
            "DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000",
            "FIELD_ENCRYPTION_KEY": WebhookHarness.fernetKey, "PORT": "0", "HOST": "127.0.0.1", "FUNCTION_TARGET": target,
            "LOG_LEVEL": "info", "K_SERVICE": target, "K_REVISION": "\(target)-00007", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_IMMEDIATE_BUDGET_MS": "0",
            // A few requests each: two connections, not a serving instance's ten, so five process starts do not load
            // PostgreSQL and the suites running beside these.
            "DB_POOL_SIZE": "2",
        ]
        if let otlpPort {
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:\(otlpPort)"
            environment["OTEL_BSP_SCHEDULE_DELAY"] = "100"
        }
        return environment
    }

    @Test("login → PostgreSQL: one trace continuing traceparent or X-Cloud-Trace-Context, log lines on its span, no PHI")
    func loginTrace() async throws {
        let receiver = try await Receiver()
        let configuration = try await TestDatabase.configuration(suite: "traces-login")
        let environment = environment(configuration, target: "login", otlpPort: receiver.port)
        let stdin = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)")
        try Data("correct horse battery staple\n".utf8).write(to: stdin)
        defer { try? FileManager.default.removeItem(at: stdin) }
        let create = try ChildProcess(
            product: "functions", arguments: ["users", "create", "--username", "jane.doe@example.com"], environment: environment, standardInput: stdin
        )
        #expect(try await create.waitForExit() == 0)

        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        let port = try await server.listeningPort()
        let trace = "0af7651916cd43dd8448eb211c80319c", caller = "b7ad6b7169203331"
        // A tracestate no tracer would read is dropped; the trace is still continued.
        let accepted = try await HTTPTestClient.send(
            port: port, method: "POST", path: "/",
            headers: [("Content-Type", "application/json"), ("traceparent", "00-\(trace)-\(caller)-01"), ("tracestate", "not a tracestate,,=@@")],
            body: Data(#"{"username":"jane.doe@example.com","password":"correct horse battery staple"}"#.utf8)
        )
        #expect(accepted.status == 200)
        let cloudTrace = "105445aa7843bc8bf206b12000100000"
        let refused = try await HTTPTestClient.send(
            port: port, method: "POST", path: "/",
            headers: [("Content-Type", "application/json"), ("X-Cloud-Trace-Context", "\(cloudTrace)/123;o=1")],
            body: Data(#"{"username":"jane.doe@example.com","password":"a wrong guess"}"#.utf8)
        )
        #expect(refused.status == 401)
        // Probes make no trace, nor does the readiness check's database ping.
        let probe = "11111111111111111111111111111111"
        for path in ["/health", "/ready"] {
            let answer = try await HTTPTestClient.send(port: port, method: "GET", path: path, headers: [("traceparent", "00-\(probe)-2222222222222222-01")])
            #expect(answer.status == 200)
        }
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0)  // the exporter stops last and sends what is left

        let spans = receiver.spans
        let request = try #require(spans.first { $0.traceID == trace && $0.kind == Self.server }, "\(spans.map(\.name))")
        #expect(request.parentID == caller)
        #expect(request.name == "POST login")
        #expect(request.attributes["http.request.method"] as? String == "POST")
        #expect(request.attributes["http.response.status_code"] as? Int == 200)
        #expect(request.status != Self.statusError)
        #expect(request.resource["service.name"] as? String == "login")
        #expect(request.resource["faas.version"] as? String == "login-00007")
        #expect(request.resource["cloud.platform"] as? String == "gcp_cloud_run")
        let calls = spans.filter { $0.traceID == trace && $0.kind == Self.client }
        #expect(calls.count >= 2)
        for call in calls {
            #expect(call.parentID == request.spanID)
            #expect(call.name.hasPrefix("AuthService."))
            #expect(call.attributes["db.system.name"] as? String == "postgresql")
            #expect(call.attributes["db.namespace"] as? String == configuration.database)
            #expect(call.attributes["code.file.path"] as? String == "Functions/AuthService.swift")
            #expect(call.events == ["connection leased"])
        }

        // X-Cloud-Trace-Context's span is a decimal number: 123 is 7b. A refusal is not a server error.
        #expect(!spans.contains { $0.traceID == probe })
        #expect(!spans.contains { $0.name.hasPrefix("Database.") }, "\(spans.map(\.name))")
        let refusal = try #require(spans.first { $0.traceID == cloudTrace && $0.kind == Self.server })
        #expect(refusal.parentID == "000000000000007b")
        #expect(refusal.attributes["http.response.status_code"] as? Int == 401)
        #expect(refusal.status != Self.statusError)
        #expect(spans.contains { $0.traceID == cloudTrace && $0.kind == Self.client && $0.parentID == refusal.spanID })
        // The refusal's log line names the span it was written in, so Cloud Logging shows it under it.
        #expect(server.text.contains(#""logging.googleapis.com/spanId":"\#(refusal.spanID)""#), "\(server.text)")
        #expect(server.text.contains(#""logging.googleapis.com/trace":"\#(cloudTrace)""#))
        #expect(!server.text.contains("not a tracestate") && !server.text.contains("Failed to extract"))

        let raw = receiver.raw
        #expect(!raw.isEmpty)
        for secret in ["jane.doe@example.com", "correct horse", "a wrong guess", testSecretKey] {
            #expect(raw.range(of: Data(secret.utf8)) == nil, "\(secret) was exported")
        }
    }

    @Test("drain → partner: the attempt is a client span under the drain, the partner gets its traceparent; no path, query or payload")
    func drainTrace() async throws {
        let receiver = try await Receiver()
        let configuration = try await TestDatabase.configuration(suite: "traces-drain")
        let sink = WebhookSink()
        let otlpPort = receiver.port
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let (traceparent, sinkPort) = try await sink.run { base -> (String, Int) in
            try await TestDatabase.with(suite: "traces-drain") { database in
                let store = WebhookEndpointStore(encryption: try FieldEncryption(key: WebhookHarness.fernetKey, realDataMode: false))
                _ = try await database.withConnection {
                    try await store.add(
                        url: base + "/hooks/T0001/B0002/slack-secret-path?token=query-secret", eventTypes: ["patient.*"], description: "",
                        on: $0, logger: TestDatabase.quietLogger
                    )
                }
            }
            /// A dispatcher process (exporting to `otlpPort`, if any) publishes one event and drains it.
            @Sendable func publishAndDrain(otlpPort: Int?) async throws {
                let process = try ChildProcess(
                    product: "functions", arguments: ["serve"], environment: environment(configuration, target: "webhook-dispatch", otlpPort: otlpPort)
                )
                let port = try await process.listeningPort()
                let published = try await HTTPTestClient.send(
                    port: port, method: "POST", path: "/events", headers: [("Content-Type", "application/json")],
                    body: Data(#"{"type":"patient.admitted","data":{"name":"Jane Doe"}}"#.utf8)
                )
                #expect(published.status == 202)
                let drained = try await HTTPTestClient.send(
                    port: port, method: "POST", path: "/drain", headers: [("traceparent", "00-\(trace)-00f067aa0ba902b7-01")], body: Data()
                )
                #expect(drained.status == 200)
                process.signal(SIGTERM)
                #expect(try await process.waitForExit() == 0)
            }
            // Tracing off: nothing is sent to the partner but the webhook, whatever the drain's caller sent.
            try await publishAndDrain(otlpPort: nil)
            #expect(sink.requests.count == 1)
            #expect(sink.requests.first?.headers["traceparent"] == nil)
            try await publishAndDrain(otlpPort: otlpPort)
            #expect(sink.requests.count == 2)
            let delivered = try #require(sink.requests.last)
            let traceparent = try #require(delivered.headers["traceparent"])
            return (traceparent, sink.port.withLock { $0 })
        }
        let parts = traceparent.split(separator: "-").map(String.init)
        #expect(parts.count == 4 && parts[0] == "00" && parts[1] == trace && parts[3] == "01")
        let spans = receiver.spans
        let drain = try #require(spans.first { $0.traceID == trace && $0.kind == Self.server && $0.name == "POST webhook-dispatch" })
        #expect(drain.parentID == "00f067aa0ba902b7")
        #expect(drain.attributes["url.path"] as? String == "/drain")
        let attempt = try #require(spans.first { $0.traceID == trace && $0.name == "POST" && $0.kind == Self.client })
        #expect(parts.count == 4 && parts[2] == attempt.spanID)
        #expect(attempt.parentID == drain.spanID)
        #expect(attempt.attributes["server.address"] as? String == "127.0.0.1")
        #expect(attempt.attributes["server.port"] as? Int == sinkPort)
        #expect(attempt.attributes["http.response.status_code"] as? Int == 200)
        for key in ["url.full", "url.path", "url.query"] { #expect(attempt.attributes[key] == nil) }
        // The drain's claims and records are database spans of the same trace.
        #expect(spans.contains { $0.traceID == trace && $0.kind == Self.client && $0.attributes["db.system.name"] != nil && $0.parentID == drain.spanID })
        let raw = receiver.raw
        for secret in ["slack-secret-path", "query-secret", "Jane Doe", "patient.admitted"] {
            #expect(raw.range(of: Data(secret.utf8)) == nil, "\(secret) was exported")
        }
    }

    @Test("a collector that accepts and never answers: requests are answered as before, and SIGTERM still ends the process cleanly and soon")
    func hangingCollector() async throws {
        let hang = try ChildProcess(
            command: "python3",
            arguments: [
                "-c",
                """
                import socket
                s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
                print("listening on", s.getsockname()[1], flush=True)
                held = []
                while True: held.append(s.accept()[0])
                """,
            ]
        )
        let collectorPort = try await Self.listeningPort(of: hang)
        let configuration = try await TestDatabase.configuration(suite: "traces-hang")
        let environment = environment(configuration, target: "login", otlpPort: collectorPort)
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        let port = try await server.listeningPort()
        for _ in 0..<20 {
            let response = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/", headers: [("Content-Type", "application/json")], body: Data("{".utf8)
            )
            #expect(response.status == 400)
        }
        // Let an export start and hang, then stop: the export in flight and the final flush give up after 2 s each.
        try await Task.sleep(for: .milliseconds(300))
        let stopping = ContinuousClock.now
        server.signal(SIGTERM)
        #expect(try await server.waitForExit() == 0, "\(server.text)")
        let took = ContinuousClock.now - stopping
        #expect(took < .seconds(7), "SIGTERM took \(took): the grace period (8 s) ran out waiting for the collector")
    }
}
