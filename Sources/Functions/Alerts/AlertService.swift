import Domain
import Foundation
public import Logging
import Outbound
import PostgresNIO
import Primitives
import Store

/// `send-alert`'s rules: store the alert (its message encrypted in real-data mode) and one send per enabled
/// channel in one statement, try the provider sends at once, and retry what failed from `POST /drain`. The same
/// idempotency key returns the first answer and sends nothing again.
public struct AlertService: Sendable {
    /// What a submission stored (the first submission's again for a repeated idempotency key).
    public struct Submitted: Sendable, Equatable, Codable {
        /// The alert id.
        public var id: UUID
        /// Each channel's state when the answer was given (`sent`, `pending`, `failed`); nil for a repeated key whose
        /// first submission has not answered yet.
        public var channels: [String: String]?

        /// Creates the record.
        public init(id: UUID, channels: [String: String]?) {
            self.id = id
            self.channels = channels
        }

        /// The record for sends in `states`, by channel.
        init(id: UUID, states: [String: WorkStatus]) {
            self.init(id: id, channels: states.mapValues { $0 == .succeeded ? "sent" : ($0 == .pending ? "pending" : "failed") })
        }

        /// Ids are written in lowercase, as everywhere else in the answers.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id.uuidString.lowercased(), forKey: .id)
            try container.encodeIfPresent(channels, forKey: .channels)
        }

        /// The JSON answered and stored for repeated keys.
        var json: String { String(decoding: (try? JSONEncoder.stable.encode(self)) ?? Data(), as: UTF8.self) }
    }

    let database: Database
    let settings: AlertSettings
    let encryption: FieldEncryption
    let clock: WallClock
    let providers: ProviderClient

    /// Creates the service; `providers` is the process's one provider client.
    public init(database: Database, settings: AlertSettings, encryption: FieldEncryption, providers: ProviderClient, clock: WallClock = .system) {
        self.database = database
        self.providers = providers
        self.settings = settings
        self.encryption = encryption
        self.clock = clock
    }

    /// The channels an alert goes out on.
    var channels: [String] { ["email"] + (settings.slackWebhookURL == nil ? [] : ["slack"]) }

    /// Stores and sends an alert; answers 202 `{id, channels: {email: status, slack: status}}`.
    ///
    /// One statement stores the alert, its sends and its counters. A send that goes over the network (Mailgun,
    /// SendGrid, Slack) is stored already claimed by this call, so no drain can take it while the first attempt
    /// runs; every such channel is then tried at once, within the first-attempt budget (so the answer comes well
    /// inside Pub/Sub's acknowledgement deadline), and one more statement records their results under that claim
    /// together with the answer; what did not succeed is retried by drains on the schedule. A send made locally (the console backend's stdout line) cannot fail and
    /// needs no retry, so it is stored as sent, with its attempt, in the first statement, and written right after
    /// that commits: never twice, and with every channel local, one statement per alert. A duplicate idempotency
    /// key stores nothing and returns the first answer.
    public func submit(_ alert: Alert, requestID: String?, logger: Logger) async throws -> Submitted {
        let now = clock.now()
        let id = UUID.random()
        let token = UUID.random()
        var alert = alert
        alert.idempotencyKey = alert.idempotencyKey.map(IdempotencyKey.stored)
        let leaseEnds = ContinuousClock.now + settings.lease
        let sealed = try encryption.sealPayload(Data(alert.message.utf8))
        let sealedFields = try AlertFields(subject: alert.subject, recipients: alert.recipients, links: alert.links).sealed(with: encryption)
        let sender = ChannelSender(settings: settings, client: providers)
        let channels = self.channels
        let sendIDs = channels.map { _ in UUID.random() }
        let local = channels.map(sender.sendsLocally)
        var states = Dictionary(uniqueKeysWithValues: zip(channels, local.map { $0 ? WorkStatus.succeeded : .pending }))
        let statement = SubmitAlertStatement(
            id: id, alert: alert, message: sealed.data, messageEncrypted: sealed.encrypted, sealedFields: sealedFields, requestID: requestID, now: now,
            claimToken: token, leaseEnd: now.addingTimeInterval(settings.lease.seconds), sendIDs: sendIDs,
            channels: channels, shard: Counters.randomShard(), statuses: channels.map { states[$0]! },
            answer: local.allSatisfy { $0 } ? Submitted(id: id, states: states).json : nil
        )
        let fresh = try await database.withConnection { connection in
            var stored = 0
            for try await count in try await connection.execute(statement, logger: logger) { stored = count }
            return stored == 1
        }
        if !fresh, let key = alert.idempotencyKey {
            let first = try await database.withConnection { try await Self.existing(key: key, on: $0, logger: logger) }
            if let first { return first }
        }
        let claims = zip(sendIDs, channels).map { sendID, channel in
            AlertSendQueue.Claim(
                sendID: sendID, alertID: id, channel: channel, attempt: 1, claimToken: token, severity: alert.severity.rawValue,
                alertType: alert.alertType, subject: alert.subject, message: sealed.data, messageEncrypted: sealed.encrypted,
                recipients: alert.recipients, links: alert.links, createdAt: now, leaseEnds: leaseEnds
            )
        }
        // Local sends are on record as sent: write them (their outcome is not recorded again).
        for (claim, isLocal) in zip(claims, local) where isLocal { _ = await send(claim, sender: sender, timeout: settings.timeout, logger: logger) }
        let remote = zip(claims, local).filter { !$0.1 }.map(\.0)
        guard !remote.isEmpty else { return Submitted(id: id, states: states) }
        let budget = settings.firstAttemptBudget
        guard budget > .zero else {
            // No first attempts: given back, due now, for the drain.
            try? await database.withConnection { try await AlertSendQueue.release(remote, on: $0, logger: logger) }
            return Submitted(id: id, states: states)
        }
        let results = await send(remote, sender: sender, timeout: min(settings.timeout, budget), logger: logger)
        for result in results {
            if result.outcome.status != .pending { states[result.claim.channel] = result.outcome.status }
        }
        let held = await record(results, answer: (id, Submitted(id: id, states: states).json), logger: logger)
        // Not recorded (the store failed, or the claim lapsed): the lease runs out and a drain sends again.
        for result in results where !held.contains(result.claim.sendID) { states[result.claim.channel] = .pending }
        return Submitted(id: id, states: states)
    }

    static func existing(key: String, on connection: PostgresConnection, logger: Logger) async throws -> Submitted? {
        let rows = try await connection.query(
            "SELECT id, response FROM alerts WHERE idempotency_key = \(key)", logger: logger
        )
        for try await (id, body) in rows.decode((UUID, String?).self) {
            let channels = body.flatMap { try? JSONDecoder().decode(Submitted.self, from: Data($0.utf8)) }?.channels
            return Submitted(id: id, channels: channels)
        }
        return nil
    }

    /// Sends what is due, with the same claims as webhook deliveries, and returns within the budget: claims stop
    /// when an attempt's whole timeout no longer fits (or, with a budget shorter than two timeouts, once half of it
    /// has passed, with the timeout cut to what is left), and a claim whose lease would not cover its attempt is
    /// given back.
    public func drain(budget: Duration? = nil, logger: Logger) async throws -> DrainReport {
        let budget = budget ?? settings.drainBudget
        let started = ContinuousClock.now
        let window = AttemptWindow(started: started, deadline: started + budget, attemptTimeout: min(settings.timeout, budget))
        let sender = ChannelSender(settings: settings, client: providers)
        var report = DrainReport()
        while !window.isClosed(at: ContinuousClock.now) {
            let now = clock.now()
            let lease = settings.lease
            let claims = try await database.withTransaction { connection in
                try await AlertSendQueue.claim(limit: 50, perChannel: 25, now: now, lease: lease, on: connection, logger: logger)
            }
            if claims.isEmpty { break }
            report.claimed += claims.count
            let starting = ContinuousClock.now
            let timeout = window.timeout(at: starting)
            let startable = claims.filter { window.fits(at: starting, leaseEnds: $0.leaseEnds) }
            let late = claims.filter { !window.fits(at: starting, leaseEnds: $0.leaseEnds) }
            if !late.isEmpty {
                try? await database.withConnection { try await AlertSendQueue.release(late, on: $0, logger: logger) }
            }
            // Each result is recorded as soon as its send ends, so a slow provider holds back nobody's record.
            let outcomes = await withTaskGroup(of: AttemptResult.self) { group in
                for claim in startable {
                    group.addTask {
                        let results = await self.send([claim], sender: sender, timeout: timeout, logger: logger)
                        guard let result = results.first else { return .lost }
                        let held = await self.record(results, logger: logger)
                        return held.contains(claim.sendID) ? result.outcome.status.result : .lost
                    }
                }
                var all: [AttemptResult] = []
                for await result in group { all.append(result) }
                return all
            }
            for result in outcomes { report.count(result) }
        }
        report.budgetExhausted = window.isClosed(at: ContinuousClock.now)
        return report
    }

    /// Records results (and an answer) in one statement; the ids whose claim still held. A batch that cannot be
    /// written is written again one result at a time (without the answer, which needs them all); a result that still
    /// cannot be written is logged and treated as a lapsed claim: the lease runs out and a drain tries again.
    func record(_ results: [(claim: AlertSendQueue.Claim, outcome: AlertSendQueue.Outcome)], answer: (alertID: UUID, body: String)? = nil, logger: Logger) async -> Set<UUID> {
        guard !results.isEmpty else { return [] }
        let now = clock.now()
        do {
            return try await database.withConnection { try await AlertSendQueue.finish(results, answer: answer, now: now, on: $0, logger: logger) }
        } catch {
            guard results.count > 1 else {
                logger.warning("could not record an alert send: \(error)")
                return []
            }
            logger.warning("could not record alert sends together, recording them one by one: \(error)")
            var held = Set<UUID>()
            for result in results { held.formUnion(await record([result], logger: logger)) }
            return held
        }
    }

    /// Tries each claim once, all at once, each within `timeout`.
    func send(_ claims: [AlertSendQueue.Claim], sender: ChannelSender, timeout: Duration, logger: Logger) async -> [(claim: AlertSendQueue.Claim, outcome: AlertSendQueue.Outcome)] {
        if claims.count == 1 { return [(claims[0], await send(claims[0], sender: sender, timeout: timeout, logger: logger))] }
        return await withTaskGroup(of: (AlertSendQueue.Claim, AlertSendQueue.Outcome).self) { group in
            for claim in claims { group.addTask { (claim, await self.send(claim, sender: sender, timeout: timeout, logger: logger)) } }
            var results: [(claim: AlertSendQueue.Claim, outcome: AlertSendQueue.Outcome)] = []
            for await result in group { results.append(result) }
            return results
        }
    }

    /// One attempt. A message that cannot be opened with the configured keys fails the send for good (no retry
    /// can fix it), with the reason on record.
    func send(_ claim: AlertSendQueue.Claim, sender: ChannelSender, timeout: Duration, logger: Logger) async -> AlertSendQueue.Outcome {
        let startedAt = clock.now()
        let message: String
        var claim = claim
        do {
            message = String(decoding: try encryption.openPayload(claim.message, encrypted: claim.messageEncrypted), as: UTF8.self)
            if let sealed = claim.sealedFields {
                let fields = try AlertFields.opened(sealed, with: encryption)
                (claim.subject, claim.recipients, claim.links) = (fields.subject, fields.recipients, fields.links)
            }
        } catch {
            logger.error("cannot open an alert: no key in FIELD_ENCRYPTION_KEYS opens what it was stored with")
            return AlertSendQueue.Outcome(startedAt: startedAt, durationMilliseconds: 0, status: .failed, reason: "undecryptable_message")
        }
        let link = settings.portalBaseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/alerts/\(claim.alertID.uuidString.lowercased())"
        let attempt: ChannelSender.Attempt
        if claim.channel == "slack" {
            let emoji = ["info": ":information_source:", "warning": ":warning:", "error": ":x:", "critical": ":rotating_light:"][claim.severity] ?? ""
            attempt = await sender.sendSlack(text: "\(emoji) [\(claim.severity.uppercased())] \(claim.subject) <\(link)|Open alert>", timeout: timeout, logger: logger)
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
            attempt = await sender.sendEmail(.init(to: claim.recipients, subject: "[\(claim.severity.uppercased())] \(claim.subject)", text: text, html: html, pdf: pdf), alertID: claim.alertID, timeout: timeout, logger: logger)
        }
        var status = WorkStatus.succeeded
        var next: Date?
        var reason: String?
        var providerID: String?
        switch attempt.outcome {
        case .sent(let id):
            providerID = id
        case .failed(let why):
            status = .failed
            reason = why
        case .retry(let why, let retryAfter):
            reason = why
            if let due = settings.schedule.nextAttempt(after: claim.attempt, at: clock.now(), retryAfter: retryAfter) {
                status = .pending
                next = due
            } else {
                status = .failed
            }
        }
        // A provider's error text may echo what it was sent: a token in REAL_DATA_MODE, like the alert itself.
        let sealedReason = try? reason.map(encryption.sealText)
        return AlertSendQueue.Outcome(
            startedAt: startedAt, durationMilliseconds: attempt.duration.wholeMilliseconds, statusCode: attempt.statusCode, status: status,
            nextAttemptAt: next, reason: sealedReason?.text ?? reason.map { _ in "unsealable_error" }, reasonEncrypted: sealedReason?.encrypted ?? false,
            providerID: providerID
        )
    }
}
