import Domain
import Foundation
import Yams

/// `functions.yaml` as data: the image, the shared defaults and each function's deployment.
struct DeploymentSpec: Decodable, Sendable {
    struct Schedule: Decodable, Sendable {
        var cron: String
        var route: String
    }

    struct Function: Decodable, Sendable {
        var name: String
        var trigger: String
        var routes: [String]
        var access: String
        var env: [String: String]
        var secrets: [String: String]
        var schedule: [Schedule]
        var cpu: String
        var memory: String
        var concurrency: Int
        var timeout_seconds: Int
        var min_instances: Int
        var max_instances: Int
        var service_account: String
        /// Members granted `roles/run.invoker` on a private function besides the scheduler's account (a
        /// publisher's service account, a Pub/Sub push subscription's, a Prometheus scraper's).
        var invokers: [String]?
    }

    struct Defaults: Decodable, Sendable {
        var env: [String: String]
        var secrets: [String: String]
    }

    var image: String
    var region: String
    var cloudsql_instance: String
    /// The identity Cloud Scheduler's OIDC tokens carry: the only one granted `run.invoker` on the functions
    /// that have a schedule (and none that do not), so no service's own account may invoke another.
    var scheduler_service_account: String
    var defaults: Defaults
    var functions: [Function]
    /// The identity the jobs (`migrate`, `maintain`) run as: Cloud SQL client and the database secret, nothing else.
    var jobs_service_account: String?
    /// `functions maintain` as a Cloud Run Job, run by Cloud Scheduler.
    var maintenance: Maintenance?
    /// Where audit log entries are kept (a Cloud Logging bucket), and how long.
    var audit_log_bucket: LogBucket?
    /// Traces: an OpenTelemetry collector beside every service, sending its spans to Cloud Trace (nil: no traces).
    var tracing: Tracing?

    struct Tracing: Decodable, Sendable {
        /// The collector's image (Google-Built OpenTelemetry Collector).
        var collector_image: String
        /// The Secret Manager secret that holds the collector's configuration (`otel/collector.yaml`).
        var config_secret: String
        /// The collector container's CPU and memory limits (added to the function's, per instance).
        var cpu: String?
        var memory: String?
    }

    struct Maintenance: Decodable, Sendable {
        /// Cron, in UTC.
        var schedule: String
        var env: [String: String]?
    }

    struct LogBucket: Decodable, Sendable {
        var name: String
        var retention_days: Int
    }

    /// What does not fit: a drain whose budget plus one attempt's timeout, or first attempts whose budget, exceed
    /// the function's request timeout (Cloud Run would cut the request off with claims still held and attempts
    /// unrecorded). One line per problem, naming the function and the settings.
    func timingProblems() -> [String] {
        var problems: [String] = []
        for function in functions {
            let env = defaults.env.merging(function.env) { _, own in own }
            func seconds(_ name: String, _ fallback: Duration, milliseconds: Bool = false) -> Double {
                guard let text = env[name], let value = Double(text) else { return fallback.seconds }
                return milliseconds ? value / 1000 : value
            }
            let limit = Double(function.timeout_seconds)
            let checks: [(String, Double)]
            switch function.name {
            case "webhook-dispatch":
                let defaults = WebhookSettings()
                let timeout = seconds("WEBHOOK_TIMEOUT_SECONDS", defaults.timeout)
                checks = [
                    ("WEBHOOK_DRAIN_BUDGET_SECONDS + WEBHOOK_TIMEOUT_SECONDS", seconds("WEBHOOK_DRAIN_BUDGET_SECONDS", defaults.drainBudget) + timeout),
                    ("WEBHOOK_IMMEDIATE_BUDGET_MS", seconds("WEBHOOK_IMMEDIATE_BUDGET_MS", defaults.immediateBudget, milliseconds: true)),
                ]
            case "send-alert":
                let defaults = AlertSettings()
                checks = [
                    ("the 50 s drain budget + ALERT_TIMEOUT_SECONDS", defaults.drainBudget.seconds + seconds("ALERT_TIMEOUT_SECONDS", defaults.timeout)),
                    ("ALERT_FIRST_ATTEMPT_BUDGET_MS", seconds("ALERT_FIRST_ATTEMPT_BUDGET_MS", defaults.firstAttemptBudget, milliseconds: true)),
                ]
            default:
                checks = []
            }
            for (what, total) in checks where total > limit {
                problems.append("\(function.name): \(what) is \(Int(total.rounded(.up))) s, more than its timeout_seconds (\(function.timeout_seconds))")
            }
        }
        return problems
    }

    /// Reads and decodes a `functions.yaml`.
    static func load(_ url: URL) throws -> DeploymentSpec {
        try YAMLDecoder().decode(DeploymentSpec.self, from: String(contentsOf: url, encoding: .utf8))
    }
}
