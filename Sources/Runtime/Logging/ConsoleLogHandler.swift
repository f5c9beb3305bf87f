import Foundation
public import Logging
import Primitives

/// A swift-log handler for a person at a terminal (`functions local`): one short line per event,
/// `09:12:03.123 login POST /login/ 401 3 ms req=4f2a…` for a finished request, `09:12:03.123 NOTICE message key=value`
/// otherwise. Values pass through the same ``PHIScrubber`` as Cloud Logging lines; credential-like keys are
/// redacted.
public struct ConsoleLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let output: LogOutput

    /// Creates a handler writing to `output`.
    public init(label: String, level: Logger.Level, output: LogOutput = .standardOutput) {
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let time = Self.clock()
        let message = event.message.description
        if message == FunctionInvoker.requestLine {
            // The request line: what a developer scans for.
            let field = { (key: String) in merged[key].map { "\($0)" } ?? "-" }
            let request = field("request_id")
            let duration = Double(field("duration_ms")).map { String(Int($0.rounded())) } ?? "-"
            output.write("\(time) \(field("function")) \(field("method")) \(field("path")) \(field("status")) \(duration) ms req=\(request.prefix(8))\n")
            return
        }
        var line = "\(time) \(CloudLogHandler.severity(event.level)) \(PHIScrubber.scrub(message))"
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["trace", "span_id", "request_id"].contains(key) {
            let text = PHIScrubber.isSecretKey(key) ? "[REDACTED]" : (CloudLogHandler.runtimeKeys.contains(key) ? "\(value)" : PHIScrubber.scrub("\(value)"))
            line += " \(key)=\(text)"
        }
        output.write(line + "\n")
    }

    /// `HH:MM:SS.mmm`, local time.
    static func clock() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        localtime_r(&seconds, &parts)
        return String(format: "%02d:%02d:%02d.%03d", parts.tm_hour, parts.tm_min, parts.tm_sec, Int32(now.tv_nsec / 1_000_000))
    }
}
