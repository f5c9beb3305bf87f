import Domain
import Foundation
public import Logging
import Outbound
import Primitives
import Store

extension WebhookDispatcher {
    /// Delivers what is due until nothing is or the budget says stop claiming (it stops early enough that
    /// the last claimed requests can still time out within the budget).
    public func drain(budget: Duration? = nil, logger: Logger) async throws -> DrainReport {
        let budget = budget ?? settings.drainBudget
        let deadline = ContinuousClock.now + budget
        let sender = WebhookSender(allowPrivateTargets: settings.allowPrivateTargets, timeout: settings.timeout)
        var report = DrainReport()
        do {
            while true {
                if ContinuousClock.now + settings.timeout > deadline, budget > settings.timeout {
                    report.budgetExhausted = true
                    break
                }
                if ContinuousClock.now >= deadline {
                    report.budgetExhausted = true
                    break
                }
                let now = clock.now()
                let (limit, lease, endpoints) = (settings.claimBatch, settings.lease, self.endpoints)
                let claims = try await database.withTransaction { connection in
                    try await DeliveryQueue.claim(limit: limit, now: now, lease: lease, endpoints: endpoints, on: connection, logger: logger)
                }
                if claims.isEmpty { break }
                report.claimed += claims.count
                let results = await send(claims, sender: sender, logger: logger)
                for recorded in results {
                    report.count(recorded.result)
                    if recorded.disabledEndpoint { report.endpointsDisabled += 1 }
                }
            }
        } catch {
            await sender.shutdown()
            throw error
        }
        await sender.shutdown()
        return report
    }

    /// How one attempt ended, and whether it disabled its endpoint.
    struct Recorded: Sendable {
        var result: AttemptResult
        var disabledEndpoint = false

        static let lost = Recorded(result: .lost)
    }

    /// Sends every claim with a global bound and a per-endpoint bound on requests in flight, and records the
    /// results in batches: whatever finished while the previous batch was being written goes into the next one.
    func send(_ claims: [DeliveryQueue.Claim], sender: WebhookSender, logger: Logger) async -> [Recorded] {
        // Round-robin across endpoints, so a batch dominated by one endpoint still serves the others first.
        var queues = Dictionary(grouping: claims, by: \.endpoint.id).values.map { Array($0) }
        var ordered: [DeliveryQueue.Claim] = []
        while !queues.isEmpty {
            for index in queues.indices.reversed() {
                ordered.append(queues[index].removeFirst())
                if queues[index].isEmpty { queues.remove(at: index) }
            }
        }
        let concurrency = settings.concurrency
        let perEndpoint = settings.perEndpointConcurrency
        return await withTaskGroup(of: SendEvent.self) { group in
            var inFlight: [UUID: Int] = [:]
            var total = 0
            var results: [Recorded] = []
            var pending = ordered[...]
            var deferred: [DeliveryQueue.Claim] = []
            var unrecorded: [(claim: DeliveryQueue.Claim, outcome: DeliveryQueue.Outcome)] = []
            var recording = false
            func next() -> DeliveryQueue.Claim? {
                if let index = deferred.firstIndex(where: { inFlight[$0.endpoint.id, default: 0] < perEndpoint }) {
                    return deferred.remove(at: index)
                }
                while let claim = pending.popFirst() {
                    if inFlight[claim.endpoint.id, default: 0] < perEndpoint { return claim }
                    deferred.append(claim)
                }
                return nil
            }
            while true {
                while total < concurrency, let claim = next() {
                    inFlight[claim.endpoint.id, default: 0] += 1
                    total += 1
                    group.addTask { .attempted(claim, await self.attempt(claim, sender: sender, logger: logger)) }
                }
                if !recording, !unrecorded.isEmpty {
                    let batch = unrecorded
                    unrecorded = []
                    recording = true
                    group.addTask { .recorded(await self.record(batch, logger: logger)) }
                }
                guard let event = await group.next() else { break }
                switch event {
                case .attempted(let claim, let outcome):
                    inFlight[claim.endpoint.id, default: 1] -= 1
                    total -= 1
                    if let outcome { unrecorded.append((claim, outcome)) } else { results.append(.lost) }
                case .recorded(let recorded):
                    recording = false
                    results += recorded
                }
            }
            return results
        }
    }

    enum SendEvent: Sendable {
        case attempted(DeliveryQueue.Claim, DeliveryQueue.Outcome?)
        case recorded([Recorded])
    }

    /// Writes a batch of results (one statement), then counts and audits endpoints that this batch disabled. A
    /// batch that cannot be written is logged and its claims left to lapse: another drain will retry them.
    func record(_ batch: [(claim: DeliveryQueue.Claim, outcome: DeliveryQueue.Outcome)], logger: Logger) async -> [Recorded] {
        let now = clock.now()
        let disableAfter = settings.disableAfter
        do {
            let held = try await database.withConnection { connection in
                try await DeliveryQueue.finish(batch, now: now, disableAfter: disableAfter, on: connection, logger: logger)
            }
            var disabled = Set<UUID>()
            let results = batch.map { claim, outcome -> Recorded in
                guard let disabledNow = held[claim.deliveryID] else { return .lost }
                let base = Recorded(result: outcome.status.result)
                guard disabledNow, disabled.insert(claim.endpoint.id).inserted else { return base }
                return Recorded(result: base.result, disabledEndpoint: true)
            }
            for endpoint in disabled {
                try await database.withTransaction { connection in
                    try await Counters.increment("webhook_endpoints_disabled_total", on: connection, logger: logger)
                    try await AuditLog.record(
                        AuditEvent(action: "webhook_endpoint_disabled", outcome: "success", detail: ["endpoint": endpoint.uuidString.lowercased()]),
                        at: now, on: connection, logger: logger
                    )
                }
            }
            return results
        } catch {
            logger.warning("could not record webhook attempts: \(error)")
            return batch.map { _ in .lost }
        }
    }

    /// One attempt: send and classify; nil when the payload cannot be opened (the claim is left to lapse).
    func attempt(_ claim: DeliveryQueue.Claim, sender: WebhookSender, logger: Logger) async -> DeliveryQueue.Outcome? {
        let startedAt = clock.now()
        let body: Data
        do {
            body = try encryption.openPayload(claim.payload, encrypted: claim.payloadEncrypted)
        } catch {
            logger.error("cannot decrypt a webhook payload: FIELD_ENCRYPTION_KEY differs from the one it was stored with")
            return nil
        }
        let timestamp = Int64(startedAt.timeIntervalSince1970)
        let webhookID = "msg_" + claim.messageID.compactHex
        let headers = [
            ("webhook-id", webhookID),
            ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", WebhookSignature.standardHeader(id: webhookID, timestamp: timestamp, body: body, secrets: claim.endpoint.signingSecrets(at: startedAt))),
            ("X-Signature", WebhookSignature.hex(body: body, secret: claim.endpoint.secret)),
        ]
        let result: WebhookSender.Result
        if settings.requireHTTPS, !claim.endpoint.url.lowercased().hasPrefix("https://") {
            result = .init(statusCode: nil, responseBody: nil, errorKind: "insecure_url", retryAfter: nil, duration: .zero)
        } else {
            result = await sender.send(url: claim.endpoint.url, headers: headers, body: body, logger: logger)
        }
        let now = clock.now()
        var outcome = DeliveryQueue.Outcome(
            startedAt: startedAt, durationMilliseconds: result.duration.wholeMilliseconds,
            statusCode: result.statusCode, responseBody: result.responseBody.map { String($0.prefix(1024)) }, errorKind: result.errorKind,
            status: result.succeeded ? .succeeded : .failed, nextAttemptAt: nil, disableEndpoint: nil
        )
        if !result.succeeded {
            if result.statusCode == 410 {
                outcome.disableEndpoint = "endpoint answered 410 Gone"
            } else if let next = settings.schedule.nextAttempt(after: claim.attempt, at: now, retryAfter: result.retryAfter) {
                outcome.status = .pending
                outcome.nextAttemptAt = next
            }
        }
        return outcome
    }
}
