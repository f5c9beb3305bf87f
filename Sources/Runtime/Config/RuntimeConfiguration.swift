public import Logging
import Configuration

/// The runtime's settings, read once from the environment at start-up.
public struct RuntimeConfiguration: Sendable {
    /// Address to bind: `0.0.0.0` on Cloud Run, `127.0.0.1` for the local runner.
    public var host: String
    /// `PORT` (default 8080; 0 picks a free port).
    public var port: Int
    /// `FUNCTION_TARGET`: serve this function at `/`; nil serves every function under `/<name>`.
    public var functionTarget: String?
    /// `FUNCTION_SIGNATURE_TYPE` (`http` or `cloudevent`): how the target's requests are read; unset, each
    /// request says (CloudEvent headers, a structured event, a Pub/Sub push, or plain HTTP).
    public var signatureType: SignatureType?
    /// A line per request at info (the local runner; Cloud Run logs requests itself, so `serve` does not).
    public var logRequests = false
    /// `LOG_LEVEL` (debug, info, notice, warning, error, critical; default info).
    public var logLevel: Logger.Level
    /// `MAX_REQUEST_BODY_BYTES` (default 10 MiB, under Cloud Run's 32 MiB).
    public var maxBodyBytes: Int
    /// `TRUSTED_PROXY_HOPS`: how many proxies in front append to `X-Forwarded-For` (0: nothing in front, the
    /// peer is the client; 1: Cloud Run direct, the default; 2: behind an external HTTPS load balancer).
    public var trustedProxyHops: Int
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight requests may run after SIGTERM (default 8).
    public var shutdownGrace: Duration
    /// `REQUEST_TIMEOUT_SECONDS`: the deadline handed to handlers (default 300, Cloud Run's default).
    public var requestTimeout: Duration
    /// `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION` as log labels.
    public var labels: [String: String]
    /// `GOOGLE_CLOUD_PROJECT`, for trace names in logs.
    public var project: String?
    /// Whether spans are exported (``TraceExport``): `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, and neither `OTEL_SDK_DISABLED=true` nor
    /// `OTEL_TRACES_EXPORTER=none` turns them off.
    public var exportsTraces: Bool

    /// Reads the settings from an environment dictionary; an invalid value is a ``ConfigurationError``.
    public init(environment: [String: String]) throws(ConfigurationError) {
        let reader = EnvironmentReader(environment)
        self.host = reader.string("HOST") ?? "0.0.0.0"
        self.port = try reader.integer("PORT", default: 8080, range: 0...65535)
        self.functionTarget = reader.string("FUNCTION_TARGET")
        if let text = reader.string("FUNCTION_SIGNATURE_TYPE") {
            guard let type = SignatureType(rawValue: text.lowercased()) else {
                throw ConfigurationError(name: "FUNCTION_SIGNATURE_TYPE", reason: "must be http or cloudevent")
            }
            self.signatureType = type
        }
        let level = reader.string("LOG_LEVEL")?.lowercased() ?? "info"
        guard let parsed = Logger.Level(rawValue: level == "warn" ? "warning" : level) else {
            throw ConfigurationError(name: "LOG_LEVEL", reason: "must be one of trace, debug, info, notice, warning, error, critical")
        }
        self.logLevel = parsed
        self.maxBodyBytes = try reader.integer("MAX_REQUEST_BODY_BYTES", default: 10 * 1024 * 1024, range: 1024...(32 * 1024 * 1024))
        self.trustedProxyHops = try reader.integer("TRUSTED_PROXY_HOPS", default: 1, range: 0...8)
        self.shutdownGrace = .seconds(try reader.integer("SHUTDOWN_GRACE_SECONDS", default: 8, range: 0...3600))
        self.requestTimeout = .seconds(try reader.integer("REQUEST_TIMEOUT_SECONDS", default: 300, range: 1...3600))
        var labels: [String: String] = [:]
        for (variable, label) in [("K_SERVICE", "service"), ("K_REVISION", "revision"), ("K_CONFIGURATION", "configuration")] {
            if let value = reader.string(variable) { labels[label] = value }
        }
        self.labels = labels
        self.project = reader.string("GOOGLE_CLOUD_PROJECT")
        let endpoint = reader.string("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ?? reader.string("OTEL_EXPORTER_OTLP_ENDPOINT")
        self.exportsTraces = endpoint != nil && reader.string("OTEL_SDK_DISABLED")?.lowercased() != "true"
            && reader.string("OTEL_TRACES_EXPORTER")?.lowercased() != "none"
    }
}

/// A setting that is missing or invalid. Its description is the one line printed before start-up stops.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The environment variable at fault.
    public var name: String
    /// What is wrong with it; never its value (it may be a secret).
    public var reason: String

    /// Creates the error.
    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    /// `Invalid configuration: NAME reason`.
    public var description: String { "Invalid configuration: \(name) \(reason)" }
}

/// Typed reads of the settings, through swift-configuration's `ConfigReader` over the environment; empty values
/// count as unset. Settings that hold secrets are marked so (``secrets``): swift-configuration redacts them wherever
/// it reports an access, and a ``ConfigurationError`` names a setting, never its value.
public struct EnvironmentReader: Sendable {
    /// The variables.
    public let environment: [String: String]
    private let config: ConfigReader

    /// The settings whose values are secrets.
    public static let secrets: Set<String> = [
        "DATABASE_URL", "DB_PASSWORD", "SECRET_KEY", "INTERNAL_API_TOKEN", "FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEYS",
        "JWT_ES256_PRIVATE_KEY", "MAILGUN_API_KEY", "SENDGRID_API_KEY", "SLACK_WEBHOOK_URL", "SENTRY_DSN",
    ]

    /// Wraps a dictionary.
    public init(_ environment: [String: String]) {
        self.environment = environment
        self.config = ConfigReader(
            provider: EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(Self.secrets))
        )
    }

    /// A non-empty string value.
    public func string(_ name: String) -> String? {
        guard let value = config.string(forKey: ConfigKey([name]), isSecret: Self.secrets.contains(name)), !value.isEmpty else { return nil }
        return value
    }

    /// A required non-empty string.
    public func required(_ name: String) throws(ConfigurationError) -> String {
        guard let value = string(name) else { throw ConfigurationError(name: name, reason: "is required") }
        return value
    }

    /// An integer within `range`, or `default` when unset.
    public func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard string(name) != nil else { return value }
        guard let parsed = config.int(forKey: ConfigKey([name])), range.contains(parsed) else {
            throw ConfigurationError(name: name, reason: "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return parsed
    }

    /// A boolean (`true/false/1/0/yes/no`, any case, as swift-configuration reads them, and `on/off`), or `default`
    /// when unset.
    public func bool(_ name: String, default value: Bool) throws(ConfigurationError) -> Bool {
        guard let text = string(name)?.lowercased() else { return value }
        if let parsed = config.bool(forKey: ConfigKey([name])) { return parsed }
        switch text {
        case "on": return true
        case "off": return false
        default: throw ConfigurationError(name: name, reason: "must be true or false")
        }
    }
}
