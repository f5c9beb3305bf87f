public import Tracing

/// The one way this package makes spans.
///
/// With no tracer (tracing off: `OTEL_EXPORTER_OTLP_ENDPOINT` unset) nothing is made, read or propagated: the
/// body runs as it would without tracing, at the cost of one nil check. A span never carries an error's text, which
/// may hold a name, an address or a payload: a failed span says the error's type (`error.type`) and nothing more.
public enum Spans {
    /// Runs `body` inside a span named `name` (a child of `context`, else of the task's current context), which
    /// is the task's current context while `body` runs and ends when it returns or throws. With `withinTrace`, the
    /// span is made only as part of a trace already under way (a request's): work outside any request (a
    /// readiness probe's ping, start-up migrations) makes no trace of its own.
    @inlinable
    public static func run<Result>(
        _ tracer: (any Tracer)?,
        _ name: String,
        kind: SpanKind,
        context: InstrumentationContext? = nil,
        withinTrace: Bool = false,
        isolation: isolated (any Actor)? = #isolation,
        _ body: ((any Span)?) async throws -> Result
    ) async rethrows -> Result {
        guard let tracer, let parent = context ?? InstrumentationContext.current ?? (withinTrace ? nil : .topLevel) else {
            return try await body(nil)
        }
        let span = tracer.startSpan(name, context: parent, ofKind: kind)
        defer { span.end() }
        do {
            return try await InstrumentationContext.withValue(span.context, isolation: isolation) { try await body(span) }
        } catch {
            failed(span, error)
            throw error
        }
    }

    /// Marks `span` failed with `error`'s type, never its text.
    public static func failed(_ span: any Span, _ error: any Error) {
        span.attributes["error.type"] = String(describing: type(of: error))
        span.setStatus(SpanStatus(code: .error))
    }

    /// The W3C trace headers (`traceparent`, and `tracestate` when there is one) for calls made on behalf of
    /// `context`, as `tracer` writes them.
    public static func headers(for context: InstrumentationContext, tracer: any Tracer) -> [String: String] {
        var headers: [String: String] = [:]
        tracer.inject(context, into: &headers, using: DictionaryInjector())
        return headers
    }

    /// The context a caller's W3C trace headers (`traceparent`, `tracestate`) describe, as `tracer` reads them;
    /// `.topLevel` when they describe none.
    public static func context(from headers: [String: String], tracer: any Tracer) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        tracer.extract(headers, into: &context, using: DictionaryExtractor())
        return context
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
