public import HTTPTypes
import Primitives
import W3CTraceContext

/// The trace a request belongs to, from W3C `traceparent` or Cloud Run's `X-Cloud-Trace-Context`.
public struct TraceContext: Sendable, Equatable {
    /// 32 lowercase hex digits.
    public var traceID: String
    /// 16 lowercase hex digits.
    public var spanID: String
    /// Whether the caller sampled this trace.
    public var sampled: Bool

    /// Creates a trace context from already-validated ids.
    public init(traceID: String, spanID: String, sampled: Bool) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    /// `traceparent` first (it is the standard), else `X-Cloud-Trace-Context`; nil when neither is well formed.
    public init?(headers: HTTPFields) {
        if let value = headers[.traceparent], let parsed = Self(traceparent: value) {
            self = parsed
        } else if let value = headers[.xCloudTraceContext], let parsed = Self(cloudTraceContext: value) {
            self = parsed
        } else {
            return nil
        }
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; all-zero ids are invalid.
    public init?(traceparent value: String) {
        let parts = value.trimmingASCIISpaces.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", Self.isHex(parts[0]),
            parts[1].count == 32, Self.isHex(parts[1]), parts[1] != String(repeating: "0", count: 32),
            parts[2].count == 16, Self.isHex(parts[2]), parts[2] != String(repeating: "0", count: 16),
            parts[3].count == 2, Self.isHex(parts[3]), let flags = UInt8(parts[3], radix: 16)
        else { return nil }
        if parts[0] == "00" && parts.count != 4 { return nil }
        self.init(traceID: parts[1].lowercased(), spanID: parts[2].lowercased(), sampled: flags & 1 == 1)
    }

    /// Parses `TRACE/SPAN;o=1` where SPAN is a decimal 64-bit integer (converted to 16 hex digits).
    public init?(cloudTraceContext value: String) {
        let value = value.trimmingASCIISpaces
        let traceAndRest = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let traceID = traceAndRest.first, traceID.count == 32, Self.isHex(traceID),
            traceID != String(repeating: "0", count: 32)
        else { return nil }
        var spanID = String(repeating: "0", count: 16)
        var sampled = false
        if traceAndRest.count == 2 {
            let spanAndOptions = traceAndRest[1].split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            guard let decimal = UInt64(spanAndOptions[0]) else { return nil }
            let hex = String(decimal, radix: 16)
            spanID = String(repeating: "0", count: 16 - hex.count) + hex
            if spanAndOptions.count == 2 { sampled = spanAndOptions[1] == "o=1" }
        }
        self.init(traceID: traceID.lowercased(), spanID: spanID, sampled: sampled)
    }

    /// The W3C headers that continue this trace: `traceparent`, and the caller's `tracestate` when it is well
    /// formed (one that is not is dropped, as W3C Trace Context says, and the trace kept: handed on, it would make
    /// the tracer refuse the whole context and log the caller's text). A `X-Cloud-Trace-Context` without a span
    /// (`TRACE` alone) gets a random parent span id, so the trace is kept.
    func w3cHeaders(tracestate: String?) -> [String: String] {
        var span = spanID
        if span == String(repeating: "0", count: 16) {
            span = withUnsafeBytes(of: UInt64.random(in: 1...UInt64.max).bigEndian) { Hex.lowercase($0) }
        }
        let traceparent = "00-\(traceID)-\(span)-\(sampled ? "01" : "00")"
        var headers = ["traceparent": traceparent]
        if let tracestate, (try? W3CTraceContext.TraceContext(traceParentHeaderValue: traceparent, traceStateHeaderValue: tracestate)) != nil {
            headers["tracestate"] = tracestate
        }
        return headers
    }

    private static func isHex(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) || ($0 >= 65 && $0 <= 70) }
    }
}

extension String {
    var trimmingASCIISpaces: String {
        var view = Substring(self)
        while view.first == " " || view.first == "\t" { view = view.dropFirst() }
        while view.last == " " || view.last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
