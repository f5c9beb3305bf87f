import Foundation
import HTTPTypes
import Logging
import Primitives
import Testing

@testable import Runtime

@Suite("Trace context, request ids, JSON logs and the PHI scrubber")
struct ObservabilityTests {
    @Test("traceparent is parsed and validated")
    func traceparent() {
        let parsed = TraceContext(traceparent: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")
        #expect(parsed == TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", sampled: true))
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "garbage", "",
        ] {
            #expect(TraceContext(traceparent: bad) == nil, "\(bad)")
        }
    }

    @Test("X-Cloud-Trace-Context has a decimal span id, converted to 16 hex digits")
    func cloudTraceContext() {
        let parsed = TraceContext(cloudTraceContext: "105445aa7843bc8bf206b12000100000/18446744073709551615;o=1")
        #expect(parsed?.spanID == "ffffffffffffffff")
        #expect(parsed?.sampled == true)
        #expect(TraceContext(cloudTraceContext: "105445aa7843bc8bf206b12000100000/255;o=0")?.spanID == "00000000000000ff")
        #expect(TraceContext(cloudTraceContext: "105445aa7843bc8bf206b12000100000/18446744073709551616") == nil)
        #expect(TraceContext(cloudTraceContext: "zz/1") == nil)
        let both: HTTPFields = [
            HTTPField.Name("traceparent")!: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            HTTPField.Name("X-Cloud-Trace-Context")!: "105445aa7843bc8bf206b12000100000/1",
        ]
        #expect(TraceContext(headers: both)?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test("the W3C headers that continue a trace: a span-less X-Cloud-Trace-Context keeps its trace, a malformed tracestate is dropped")
    func w3cHeaders() throws {
        let spanless = try #require(TraceContext(cloudTraceContext: "105445aa7843bc8bf206b12000100000"))
        let traceparent = try #require(spanless.w3cHeaders(tracestate: nil)["traceparent"])
        let continued = try #require(TraceContext(traceparent: traceparent))
        #expect(continued.traceID == "105445aa7843bc8bf206b12000100000" && continued.spanID.count == 16)
        #expect(continued.spanID != String(repeating: "0", count: 16))
        let sampled = TraceContext(traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", sampled: true)
        #expect(sampled.w3cHeaders(tracestate: "congo=t61rcWkgMzE") == [
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "congo=t61rcWkgMzE",
        ])
        #expect(sampled.w3cHeaders(tracestate: "not a tracestate,,=@@")["tracestate"] == nil)
    }

    @Test("the scrubber replaces emails, phones, SSNs, dates, long numbers and credentials", arguments: [
        ("mail jane.doe+x@example.co.uk now", "mail [EMAIL] now"),
        ("call (555) 123-4567 or +1 555 123 4567", "call [PHONE] or [PHONE]"),
        ("ssn 123-45-6789.", "ssn [SSN]."),
        ("born 1980-02-29 and 2/29/1980", "born [DATE] and [DATE]"),
        ("mrn 123456789 acct MRN12345678", "mrn [NUMBER] acct MRN[NUMBER]"),
        ("auth Bearer abc.def.ghi", "auth [REDACTED]"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2ln end", "token [REDACTED] end"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret [REDACTED]"),
        ("Key (email)=(a@b.io) already exists", "Key (email)=([EMAIL]) already exists"),
        ("took 12.5 ms, 3 retries, version 1.2.3, port 8080", "took 12.5 ms, 3 retries, version 1.2.3, port 8080"),
    ])
    func scrubber(input: String, expected: String) {
        #expect(PHIScrubber.scrub(input) == expected)
    }

    @Test("log lines are Cloud Logging JSON with labels, trace, scrubbed metadata, redacted secrets")
    func logLine() throws {
        let logs = LogOutput.capturing()
        let settings = CloudLogHandler.Settings(labels: ["service": "login", "revision": "login-00001"], project: "proj")
        var logger = Logger(label: "t") { CloudLogHandler(label: $0, level: .info, settings: settings, output: logs) }
        logger[metadataKey: "trace"] = "4bf92f3577b34da6a3ce929d0e0e4736"
        logger[metadataKey: "span_id"] = "00f067aa0ba902b7"
        logger[metadataKey: "request_id"] = "a1234567890b"
        logger.debug("hidden below the level")
        logger.warning(
            "login failed for bob@example.com",
            metadata: ["password": "hunter2", "note": "dob 01/02/1990", "refresh_token": "abc", "count": .stringConvertible(3)]
        )
        #expect(logs.lines.count == 1)
        let line = try #require(logs.lines.first)
        #expect(line.hasSuffix("}\n") && line.hasPrefix("{"))
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        #expect(object["severity"] as? String == "WARNING")
        #expect(object["message"] as? String == "login failed for [EMAIL]")
        #expect(object["logging.googleapis.com/trace"] as? String == "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(object["logging.googleapis.com/spanId"] as? String == "00f067aa0ba902b7")
        #expect(object["logging.googleapis.com/labels"] as? [String: String] == ["service": "login", "revision": "login-00001"])
        #expect(object["logging.googleapis.com/sourceLocation"] != nil)
        #expect(object["password"] as? String == "[REDACTED]")
        #expect(object["refresh_token"] as? String == "[REDACTED]")
        #expect(object["note"] as? String == "dob [DATE]")
        #expect(object["request_id"] as? String == "a1234567890b")
        #expect(object["count"] as? Int == 3)
        let time = try #require(object["time"] as? String)
        #expect(time.count == 27 && time.hasSuffix("Z"))
        #expect(!line.contains("hunter2") && !line.contains("bob@example.com"))
    }

    @Test("LOG_LEVEL and the other runtime settings are read and validated")
    func configuration() throws {
        let defaults = try RuntimeConfiguration(environment: [:])
        #expect(defaults.port == 8080 && defaults.host == "0.0.0.0" && defaults.logLevel == .info)
        #expect(defaults.shutdownGrace == .seconds(8) && defaults.maxBodyBytes == 10 * 1024 * 1024)
        let custom = try RuntimeConfiguration(environment: [
            "PORT": "9000", "LOG_LEVEL": "WARN", "K_SERVICE": "login", "K_REVISION": "r1", "FUNCTION_TARGET": "login",
        ])
        #expect(custom.port == 9000 && custom.logLevel == .warning && custom.labels == ["service": "login", "revision": "r1"])
        let badPort = #expect(throws: ConfigurationError.self) { try RuntimeConfiguration(environment: ["PORT": "http"]) }
        #expect(badPort?.description == "Invalid configuration: PORT must be an integer from 0 to 65535")
        #expect(throws: ConfigurationError.self) { try RuntimeConfiguration(environment: ["LOG_LEVEL": "loud"]) }
        #expect(throws: ConfigurationError.self) { try RuntimeConfiguration(environment: ["MAX_REQUEST_BODY_BYTES": "999999999"]) }
    }
}
