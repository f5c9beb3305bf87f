public import Logging
import OTel
public import ServiceLifecycle
public import Tracing

/// Spans exported as OTLP over HTTP (protobuf), through swift-otel, when the standard OpenTelemetry settings ask
/// for it (``RuntimeConfiguration/exportsTraces``); otherwise there is no tracer at all, and nothing is made.
///
/// swift-otel reads the rest of the standard settings itself: `OTEL_EXPORTER_OTLP_ENDPOINT` (the collector's base
/// address; `/v1/traces` is appended) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used whole), `OTEL_TRACES_SAMPLER`
/// (default `parentbased_always_on`: Cloud Run's own sampling decision, carried by `traceparent`, is kept),
/// `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`.
public struct TraceExport: Sendable {
    /// The tracer every span of the process is made with.
    public let tracer: any Tracer
    /// Batches and sends the spans; run it first in the service group, so it stops last and sends the final ones.
    public let service: any Service

    /// The export `configuration` asks for, or nil when it asks for none. Its own warnings go to `logger`.
    public static func make(configuration: RuntimeConfiguration, logger: Logger) throws -> TraceExport? {
        guard configuration.exportsTraces else { return nil }
        var otel = OTel.Configuration.default
        otel.serviceName = configuration.labels["service"] ?? configuration.functionTarget ?? "functions"
        otel.resourceAttributes = ["cloud.provider": "gcp", "cloud.platform": "gcp_cloud_run"]
        if let service = configuration.labels["service"] { otel.resourceAttributes["faas.name"] = service }
        if let revision = configuration.labels["revision"] { otel.resourceAttributes["faas.version"] = revision }
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        otel.propagators = [.traceContext]
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = .httpProtobuf
        // The collector is a sidecar on localhost that answers in milliseconds. One that hangs must not hold the
        // instance's shutdown (the export in flight, then the final flush, each wait this long at most; Cloud Run
        // allows 10 s after SIGTERM for everything): spans are dropped rather than the drain cut short.
        otel.traces.otlpExporter.timeout = .seconds(2)
        otel.traces.batchSpanProcessor.exportTimeout = .seconds(2)
        let (tracer, service) = try OTel.makeTracingBackend(configuration: otel)
        return TraceExport(tracer: tracer, service: service)
    }
}
