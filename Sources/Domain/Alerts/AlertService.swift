import AsyncHTTPClient
import Foundation
public import Logging
import PostgresNIO

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
    public func submit(_ alert: Alert, requestID: String?, logger: Logger) async throws -> Submitted {
        let now = clock.now()
        let id = UUID()
        let sealed = try encryption.sealPayload(Data(alert.message.utf8))
        let channels = self.channels
        enum Stored: Sendable { case fresh([(UUID, String)]), duplicate(Submitted) }
        let stored: Stored = try await database.withTransaction { connection in
            if let key = alert.idempotencyKey, let first = try await Self.existing(key: key, on: connection, logger: logger) {
                return .duplicate(first)
            }
            let inserted = try await connection.query(
                """
                INSERT INTO alerts (id, alert_type, severity, subject, message, message_encrypted, recipients, links, idempotency_key,
                    request_id, created_at)
                VALUES (\(id), \(alert.alertType), \(alert.severity.rawValue), \(alert.subject), \(sealed.data), \(sealed.encrypted),
                    \(alert.recipients), \(alert.links), \(alert.idempotencyKey), \(requestID), \(now))
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1
                """,
                logger: logger
            )
            var fresh = false
            for try await _ in inserted { fresh = true }
            if !fresh, let key = alert.idempotencyKey, let first = try await Self.existing(key: key, on: connection, logger: logger) {
                return .duplicate(first)
            }
            var sends: [(UUID, String)] = []
            for channel in channels {
                let sendID = UUID()
                try await connection.query(
                    """
                    INSERT INTO alert_sends (id, alert_id, channel, status, next_attempt_at, created_at)
                    VALUES (\(sendID), \(id), \(channel), 'pending', \(now), \(now))
                    """,
                    logger: logger
                )
                sends.append((sendID, channel))
            }
            try await Counters.increment("alerts_total", labels: ["severity": alert.severity.rawValue], on: connection, logger: logger)
            return .fresh(sends)
        }
        guard case .fresh(let sends) = stored else {
            if case .duplicate(let first) = stored { return first }
            throw StoreError.unavailable
        }
        // First attempts at once: claimed like any drain, so a concurrent drain never sends them twice.
        let report = try await drain(only: sends.map(\.0), budget: settings.timeout + .seconds(5), logger: logger)
        _ = report
        let states = try await database.withConnection { connection in
            var states: [String: String] = [:]
            let rows = try await connection.query("SELECT channel, status FROM alert_sends WHERE alert_id = \(id)", logger: logger)
            for try await (channel, status) in rows.decode((String, String).self) { states[channel] = status }
            return states
        }
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

    /// Sends what is due (or only `only`), with the same claims as webhook deliveries.
    public func drain(only: [UUID]? = nil, budget: Duration? = nil, logger: Logger) async throws -> DrainReport {
        let deadline = ContinuousClock.now + (budget ?? settings.drainBudget)
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .init(settings.timeout)))
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let sender = ChannelSender(settings: settings, client: client)
        var report = DrainReport()
        do {
            while ContinuousClock.now < deadline {
                let now = clock.now()
                let lease = settings.lease
                let claims = try await database.withTransaction { connection in
                    try await AlertSendQueue.claim(only: only, limit: 50, now: now, lease: lease, on: connection, logger: logger)
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
                if only != nil { break }
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
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
