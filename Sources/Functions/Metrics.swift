import Domain
import Foundation
import Runtime
import Store

/// `metrics`: `GET /` answers the Prometheus text exposition (0.0.4) of the counters and open-work gauges in
/// PostgreSQL, read in one snapshot. PostgreSQL down is a 503, never a partial page.
struct Metrics: RoutedFunction {
    let name = "metrics"
    let routes: Routes

    init(database: Database, access: PrivateAccess) {
        routes = Routes([
            Routes.Route([.get, .head], .exact("/")) { request, context in
                let logger = context.logger
                return Answers.metrics(try await database.withConnection { try await MetricsSnapshot.read(on: $0, logger: logger) })
            }
        ], guard: { try access.check($0) }, maxBodyBytes: Routes.unroutedBodyBytes)
    }
}

/// Prometheus text format 0.0.4.
enum PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// What each family means, for `# HELP`.
    static let help: [String: String] = [
        "auth_login_total": "Login attempts by outcome (success, failure, throttled).",
        "auth_refresh_total": "Refresh attempts by outcome (success, reuse_detected, blacklisted, inactive_user, legacy_accepted, family_expired).",
        "auth_revoke_total": "Logouts (refresh-token family revocations).",
        "auth_user_admin_total": "User administration actions by action.",
        "auth_refresh_families_live": "Refresh-token families neither revoked nor expired (capped at 100000).",
        "webhook_received_total": "Incoming webhooks by source and outcome (accepted, ignored, duplicate, rejected).",
        "webhook_messages_total": "Events published for outgoing webhooks.",
        "webhook_deliveries_created_total": "Outgoing webhook deliveries created.",
        "webhook_attempts_total": "Outgoing webhook attempts by outcome (succeeded, retrying, failed), consumers' included.",
        "webhook_events_forwarded_total": "Received events handed to their source's consumers, by source.",
        "webhook_consumer_attempts_total": "Attempts to consumers of received events by source and outcome (succeeded, retrying, failed).",
        "webhook_forwarding_backlog": "Deliveries to consumers of received events not finished yet, due or waiting for a retry (capped at 100000).",
        "webhook_forwarding_backlog_age_seconds": "Time since the oldest unfinished delivery to a consumer was made (read from at most 100000 per consumer).",
        "events_rejected_total": "Events from Eventarc or Pub/Sub that can never succeed, acknowledged and recorded, by function and reason.",
        "webhook_endpoints_disabled_total": "Endpoints disabled automatically (410 or failing too long).",
        "webhook_deliveries_due": "Webhook deliveries due now (capped at 100000).",
        "webhook_deliveries_oldest_due_seconds": "Age of the oldest due webhook delivery.",
        "webhook_endpoints_currently_disabled": "Endpoints disabled now, by an operator or automatically (capped at 100000).",
        "alerts_total": "Alerts accepted by severity.",
        "alert_sends_total": "Alert sends by channel and outcome (sent, retrying, failed).",
        "alert_sends_due": "Alert sends due now (capped at 100000).",
        "alert_sends_oldest_due_seconds": "Age of the oldest due alert send.",
    ]

    static func render(_ samples: [MetricsSnapshot.Sample]) -> String {
        var out = ""
        let families = Dictionary(grouping: samples.filter { isValidName($0.name) }, by: \.name)
        for name in families.keys.sorted() {
            let series = families[name]!
            let kind = name.hasSuffix("_total") ? "counter" : "gauge"
            out += "# HELP \(name) \(help[name] ?? "Durable series kept in PostgreSQL.")\n# TYPE \(name) \(kind)\n"
            for sample in series.sorted(by: { labels($0.labels) < labels($1.labels) }) {
                out += name + labels(sample.labels) + " " + format(sample.value) + "\n"
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    static func labels(_ labels: [String: String]) -> String {
        let valid = labels.filter { isValidName($0.key) }.sorted { $0.key < $1.key }
        guard !valid.isEmpty else { return "" }
        return "{" + valid.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",") + "}"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }
}
