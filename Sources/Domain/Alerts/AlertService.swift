import AsyncHTTPClient
import Foundation
public import Logging
import PostgresNIO
import Synchronization

/// `send-alert`'s rules: store the alert (its message encrypted in real-data mode) and one send per enabled
/// channel in one transaction, try each at once, and retry what failed from `POST /drain`. The same
/// idempotency key returns the first answer and sends nothing again.
public struct AlertService: Sendable {
    /// The answer to a submission.
    public struct Submitted: Sendable, Equatable {
        /// The alert id.
        public var id: UUID
        /// The JSON answered (repeated for a duplicate idempotency key).
        public var body: String
    }

    /// What a drain did.
    public struct DrainReport: Sendable, Equatable, Codable {
        /// Sends claimed.
        public var claimed = 0
        /// Sent.
        public var sent = 0
        /// Will be retried.
        public var retrying = 0
        /// Failed for good.
        public var failed = 0
        /// Results dropped because the claim had lapsed.
        public var lostClaims = 0
    }

    let database: Database
    let settings: AlertSettings
    let encryption: FieldEncryption
    let clock: WallClock

    /// Creates the service.
    public init(database: Database, settings: AlertSettings, encryption: FieldEncryption, clock: WallClock = .system) {
        self.database = database
        self.settings = settings
        self.encryption = encryption
        self.clock = clock
    }

    /// The channels an alert goes out on.
    var channels: [String] { ["email"] + (settings.slackWebhookURL == nil ? [] : ["slack"]) }

    /// Stores and sends an alert; answers 202 `{id, channels: {email: status, slack: status}}`.
    ///
    /// One statement stores the alert, its sends (already claimed by this call, so no drain can take them
    /// while the first attempts run) and its counter; then each channel is tried once and its result
    /// recorded under that claim. A duplicate idempotency key stores nothing and returns the first answer.
    public func submit(_ alert: Alert, requestID: String?, logger: Logger) async throws -> Submitted {
        let now = clock.now()
        let id = UUID()
        let token = UUID()
        let sealed = try encryption.sealPayload(Data(alert.message.utf8))
        let channels = self.channels
        let sendIDs = channels.map { _ in UUID() }
        let leaseEnd = now.addingTimeInterval(Double(settings.lease.components.seconds))
        let shard = Int16.random(in: 0..<Int16(Counters.shards))
        let fresh = try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                WITH inserted AS (
                    INSERT INTO alerts (id, alert_type, severity, subject, message, message_encrypted, recipients, links, idempotency_key,
                        request_id, created_at)
                    VALUES (\(id), \(alert.alertType), \(alert.severity.rawValue), \(alert.subject), \(sealed.data), \(sealed.encrypted),
                        \(alert.recipients), \(alert.links), \(alert.idempotencyKey)::text, \(requestID)::text, \(now))
                    ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
                ), sends AS (
                    INSERT INTO alert_sends (id, alert_id, channel, status, attempts, next_attempt_at, claim_token, claimed_until, created_at)
                    SELECT send.id, inserted.id, send.channel, 'pending', 1, \(now), \(token), \(leaseEnd), \(now)
                    FROM inserted, unnest(\(sendIDs)::uuid[], \(channels)::text[]) AS send(id, channel)
                ), counted AS (
                    INSERT INTO counters (name, labels, shard, value)
                    SELECT 'alerts_total', jsonb_build_object('severity', \(alert.severity.rawValue)::text), \(shard), 1 FROM inserted
                    ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
                )
                SELECT count(*)::int FROM inserted
                """,
                logger: logger
            )
            var count = 0
            for try await value in rows.decode(Int.self) { count = value }
            return count == 1
        }
        if !fresh, let key = alert.idempotencyKey {
            let first = try await database.withConnection { try await Self.existing(key: key, on: $0, logger: logger) }
            if let first { return first }
        }
        let sender = ChannelSender(settings: settings, client: LazyHTTPClient(settings: settings))
        var states: [String: String] = [:]
        for (sendID, channel) in zip(sendIDs, channels) {
            let claim = AlertSendQueue.Claim(
                sendID: sendID, alertID: id, channel: channel, attempt: 1, claimToken: token, severity: alert.severity.rawValue,
                alertType: alert.alertType, subject: alert.subject, message: sealed.data, messageEncrypted: sealed.encrypted,
                recipients: alert.recipients, links: alert.links, createdAt: now
            )
            switch await attempt(claim, sender: sender, logger: logger) {
            case .sent: states[channel] = "sent"
            case .failed: states[channel] = "failed"
            case .retrying, .lost: states[channel] = "pending"
            }
        }
        await sender.client.shutdown()
        let channelJSON = states.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
        let body = "{\"id\":\"\(id.uuidString.lowercased())\",\"channels\":{\(channelJSON)}}"
        try await database.withConnection { connection in
            try await connection.query("UPDATE alerts SET response = \(body) WHERE id = \(id)", logger: logger)
        }
        return Submitted(id: id, body: body)
    }

    static func existing(key: String, on connection: PostgresConnection, logger: Logger) async throws -> Submitted? {
        let rows = try await connection.query(
            "SELECT id, coalesce(response, '{\"id\":\"' || id::text || '\"}') FROM alerts WHERE idempotency_key = \(key)", logger: logger
        )
        for try await (id, body) in rows.decode((UUID, String).self) { return Submitted(id: id, body: body) }
        return nil
    }

    /// Sends what is due, with the same claims as webhook deliveries.
    public func drain(budget: Duration? = nil, logger: Logger) async throws -> DrainReport {
        let deadline = ContinuousClock.now + (budget ?? settings.drainBudget)
        let client = LazyHTTPClient(settings: settings)
        let sender = ChannelSender(settings: settings, client: client)
        var report = DrainReport()
        do {
            while ContinuousClock.now < deadline {
                let now = clock.now()
                let lease = settings.lease
                let claims = try await database.withTransaction { connection in
                    try await AlertSendQueue.claim(limit: 50, now: now, lease: lease, on: connection, logger: logger)
                }
                if claims.isEmpty { break }
                report.claimed += claims.count
                let results = await withTaskGroup(of: AlertSendQueue.Result.self) { group in
                    for claim in claims { group.addTask { await self.attempt(claim, sender: sender, logger: logger) } }
                    var results: [AlertSendQueue.Result] = []
                    for await result in group { results.append(result) }
                    return results
                }
                for result in results {
                    switch result {
                    case .sent: report.sent += 1
                    case .retrying: report.retrying += 1
                    case .failed: report.failed += 1
                    case .lost: report.lostClaims += 1
                    }
                }
            }
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        return report
    }

    func attempt(_ claim: AlertSendQueue.Claim, sender: ChannelSender, logger: Logger) async -> AlertSendQueue.Result {
        let startedAt = clock.now()
        let message: String
        do {
            message = String(decoding: try encryption.openPayload(claim.message, encrypted: claim.messageEncrypted), as: UTF8.self)
        } catch {
            logger.error("cannot decrypt an alert message: FIELD_ENCRYPTION_KEY differs from the one it was stored with")
            return .lost
        }
        let link = settings.portalBaseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/alerts/\(claim.alertID.uuidString.lowercased())"
        let attempt: ChannelSender.Attempt
        if claim.channel == "slack" {
            let emoji = ["info": ":information_source:", "warning": ":warning:", "error": ":x:", "critical": ":rotating_light:"][claim.severity] ?? ""
            attempt = await sender.sendSlack(text: "\(emoji) [\(claim.severity.uppercased())] \(claim.subject) <\(link)|Open alert>", logger: logger)
        } else {
            let text = AlertEmail.text(subject: claim.subject, severity: claim.severity, type: claim.alertType, message: message, link: link, links: claim.links)
            let html = AlertEmail.html(subject: claim.subject, severity: claim.severity, type: claim.alertType, message: message, link: link, links: claim.links)
            let pdf = settings.attachPDF
                ? AlertPDF.render(
                    title: "Alert: \(claim.subject)",
                    lines: ["Severity: \(claim.severity)", "Type: \(claim.alertType)", "Created: \(ISO8601DateFormatter().string(from: claim.createdAt))", "Link: \(link)", ""]
                        + message.components(separatedBy: "\n")
                )
                : nil
            attempt = await sender.sendEmail(.init(to: claim.recipients, subject: "[\(claim.severity.uppercased())] \(claim.subject)", text: text, html: html, pdf: pdf), alertID: claim.alertID, logger: logger)
        }
        let now = clock.now()
        var status = "sent"
        var next: Date?
        var reason: String?
        var providerID: String?
        switch attempt.outcome {
        case .sent(let id):
            providerID = id
        case .failed(let why):
            status = "failed"
            reason = why
        case .retry(let why, let retryAfter):
            reason = why
            if let due = settings.schedule.nextAttempt(after: claim.attempt, at: now, retryAfter: retryAfter) {
                status = "pending"
                next = due
            } else {
                status = "failed"
            }
        }
        let outcome = AlertSendQueue.Outcome(
            startedAt: startedAt, durationMilliseconds: Int(attempt.duration.components.seconds * 1000 + attempt.duration.components.attoseconds / 1_000_000_000_000_000),
            statusCode: attempt.statusCode, status: status, nextAttemptAt: next, reason: reason, providerID: providerID
        )
        do {
            guard try await database.withConnection({ try await AlertSendQueue.finish(claim, outcome: outcome, now: now, on: $0, logger: logger) }) else {
                return .lost
            }
        } catch {
            logger.warning("could not record an alert send: \(error)")
            return .lost
        }
        switch status {
        case "sent": return .sent
        case "pending": return .retrying
        default: return .failed
        }
    }
}

/// The email's text and HTML parts.
enum AlertEmail {
    static func text(subject: String, severity: String, type: String, message: String, link: String, links: [String]) -> String {
        var lines = [subject, "", "Severity: \(severity)", "Type: \(type)", "", message, "", "Open the alert: \(link)"]
        if !links.isEmpty { lines += [""] + links }
        return lines.joined(separator: "\n")
    }

    static func html(subject: String, severity: String, type: String, message: String, link: String, links: [String]) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let extra = links.map { "<li><a href=\"\(escape($0))\">\(escape($0))</a></li>" }.joined()
        return """
            <html><body><h2>\(escape(subject))</h2><p><strong>Severity:</strong> \(escape(severity)) &middot; <strong>Type:</strong> \(escape(type))</p>\
            <pre style="white-space:pre-wrap">\(escape(message))</pre><p><a href="\(escape(link))">Open the alert</a></p>\
            \(extra.isEmpty ? "" : "<ul>\(extra)</ul>")</body></html>
            """
    }
}

/// An HTTP client made on first use (the console backend never needs one) and shut down by its owner.
final class LazyHTTPClient: Sendable {
    private let made = Mutex<HTTPClient?>(nil)
    private let settings: AlertSettings

    init(settings: AlertSettings) { self.settings = settings }

    var client: HTTPClient {
        made.withLock { made in
            if let made { return made }
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .init(settings.timeout))
            )
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            made = client
            return client
        }
    }

    func shutdown() async {
        if let client = made.withLock({ $0 }) { try? await client.shutdown() }
    }
}
