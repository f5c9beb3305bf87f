import Foundation
public import Logging
import Primitives
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes one Cloud Logging JSON object per line to stdout.
///
/// Messages and metadata values pass through ``PHIScrubber``; values under credential-like keys are
/// replaced whole. `trace`/`span_id` metadata become Cloud Logging's trace fields so lines correlate with
/// the request trace.
public struct CloudLogHandler: LogHandler {
    /// Fixed labels on every line (`K_SERVICE`, `K_REVISION`) and the project for trace names.
    public struct Settings: Sendable {
        /// Labels attached to every line.
        public var labels: [String: String]
        /// The Google Cloud project id, used to write `projects/P/traces/T`.
        public var project: String?
        /// Metadata keys whose values the runtime generates itself and which are not scrubbed.
        public var trustedKeys: Set<String>

        /// Creates settings.
        public init(labels: [String: String] = [:], project: String? = nil, trustedKeys: Set<String> = CloudLogHandler.runtimeKeys) {
            self.labels = labels
            self.project = project
            self.trustedKeys = trustedKeys
        }
    }

    /// Keys whose values the runtime makes (ids, numbers it measured): safe as they are.
    public static let runtimeKeys: Set<String> = [
        "request_id", "trace", "span_id", "function", "status", "duration_ms", "method", "port", "address", "error_type",
        "migration", "version", "event_type", "code",
        // An audit record's line: a fixed vocabulary and ids.
        "audit", "action", "outcome", "user_id", "counted",
    ]

    /// The handler's metadata.
    public var metadata: Logger.Metadata = [:]
    /// The minimum level written.
    public var logLevel: Logger.Level
    private let settings: Settings
    private let output: LogOutput

    /// Creates a handler writing to `output` (stdout unless a test captures it).
    public init(label: String, level: Logger.Level, settings: Settings, output: LogOutput = .standardOutput) {
        self.logLevel = level
        self.settings = settings
        self.output = output
    }

    /// Reads or writes one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line.
    public func log(event: LogEvent) {
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var fields: [String] = [
            "\"severity\":" + JSONText.quoted(Self.severity(event.level)),
            "\"message\":" + JSONText.quoted(PHIScrubber.scrub(event.message.description)),
            "\"time\":" + JSONText.quoted(Self.timestamp()),
        ]
        if let trace = merged.removeValue(forKey: "trace")?.description {
            let name = settings.project.map { "projects/\($0)/traces/\(trace)" } ?? trace
            fields.append("\"logging.googleapis.com/trace\":" + JSONText.quoted(name))
        }
        if let span = merged.removeValue(forKey: "span_id")?.description {
            fields.append("\"logging.googleapis.com/spanId\":" + JSONText.quoted(span))
        }
        if !settings.labels.isEmpty {
            let labels = settings.labels.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + JSONText.quoted($0.value) }
            fields.append("\"logging.googleapis.com/labels\":{" + labels.joined(separator: ",") + "}")
        }
        if event.level >= .warning {
            let file = (event.file as NSString).lastPathComponent
            fields.append(
                "\"logging.googleapis.com/sourceLocation\":{\"file\":\(JSONText.quoted(file)),\"line\":\"\(event.line)\",\"function\":\(JSONText.quoted(event.function))}"
            )
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !Self.reserved.contains(key) {
            fields.append(JSONText.quoted(key) + ":" + render(key: key, value: value))
        }
        output.write("{" + fields.joined(separator: ",") + "}\n")
    }

    private static let reserved: Set<String> = ["severity", "message", "time"]

    private func render(key: String, value: Logger.Metadata.Value) -> String {
        if PHIScrubber.isSecretKey(key) { return "\"[REDACTED]\"" }
        switch value {
        case .string(let text):
            return JSONText.quoted(settings.trustedKeys.contains(key) ? text : PHIScrubber.scrub(text))
        case .stringConvertible(let convertible):
            let text = convertible.description
            if convertible is any BinaryInteger || convertible is Double { return text }
            return JSONText.quoted(settings.trustedKeys.contains(key) ? text : PHIScrubber.scrub(text))
        case .array(let values):
            return "[" + values.map { render(key: key, value: $0) }.joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            let members = dictionary.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + render(key: $0.key, value: $0.value) }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    static func severity(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: return "DEBUG"
        case .info: return "INFO"
        case .notice: return "NOTICE"
        case .warning: return "WARNING"
        case .error: return "ERROR"
        case .critical: return "CRITICAL"
        }
    }

    /// RFC 3339 UTC with microseconds, digit by digit (`String(format:)` costs a Foundation formatter call per
    /// line, and lines are written on the request path: an audit record's, for one).
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = [UInt8]()
        out.reserveCapacity(27)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec / 1000), 6)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// Where log lines go: stdout, or a buffer a test reads back.
public final class LogOutput: Sendable {
    private let sink: Mutex<[String]?>

    private init(capturing: Bool) { self.sink = Mutex(capturing ? [] : nil) }

    /// Lines go to file descriptor 1, one `write` per line under a lock so lines never interleave.
    public static let standardOutput = LogOutput(capturing: false)

    /// Lines are kept in memory (for tests).
    public static func capturing() -> LogOutput { LogOutput(capturing: true) }

    /// The lines written so far (capturing outputs only).
    public var lines: [String] { sink.withLock { $0 ?? [] } }

    func write(_ line: String) {
        sink.withLock { captured in
            if captured != nil {
                captured!.append(line)
                return
            }
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress! + offset, $0.count - offset) }
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
