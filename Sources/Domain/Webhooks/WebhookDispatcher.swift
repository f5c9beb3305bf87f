import Foundation
public import Logging
import PostgresNIO

/// `webhook-dispatch`'s rules: publish an event as one message and one delivery per subscribed endpoint in a
/// single transaction, and drain due deliveries with bounded concurrency, retries and a full attempt record.
public struct WebhookDispatcher: Sendable {
    /// The answer to a publish (the first answer again for a repeated idempotency key).
    public struct Published: Sendable, Equatable {
        /// The message id.
        public var id: UUID
        /// Deliveries created.
        public var deliveries: Int
        /// The JSON answered.
        public var body: String
    }

    /// What a drain did.
    public struct DrainReport: Sendable, Equatable, Codable {
        /// Deliveries claimed.
        public var claimed = 0
        /// Attempts that got a 2xx.
        public var succeeded = 0
        /// Attempts that failed and will be retried.
        public var retrying = 0
        /// Deliveries that failed for good.
        public var failed = 0
        /// Results dropped because the claim had lapsed.
        public var lostClaims = 0
        /// Endpoints disabled by this drain.
        public var endpointsDisabled = 0
        /// Whether the drain stopped because its time budget ran out.
        public var budgetExhausted = false
    }

    /// Why an event cannot be published.
    public enum Rejection: Error, Sendable, Equatable {
        /// `type` is missing or malformed.
        case invalidType
        /// `data` is missing.
        case missingData
    }

    let database: Database
    let endpoints: WebhookEndpointStore
    let encryption: FieldEncryption
    let settings: WebhookSettings
    let clock: WallClock

    /// Creates the dispatcher.
    public init(database: Database, encryption: FieldEncryption, settings: WebhookSettings, clock: WallClock = .system) {
        self.database = database
        self.endpoints = WebhookEndpointStore(encryption: encryption)
        self.encryption = encryption
        self.settings = settings
        self.clock = clock
    }

    // MARK: Publish

    /// Stores `{type, timestamp, data, metadata: {request_id}}` and a delivery per enabled, subscribed endpoint.
    public func publish(type: String, data: Data, idempotencyKey: String?, requestID: String?, logger: Logger) async throws -> Published {
        guard EventTypeFilter.isValid(type), type != "*", !type.hasSuffix(".*") else { throw Rejection.invalidType }
        let now = clock.now()
        let id = UUID()
        let timestamp = ISO8601DateFormatter.webhook.string(from: now)
        var payload = Data("{\"type\":\(Self.quoted(type)),\"timestamp\":\"\(timestamp)\",\"data\":".utf8)
        payload.append(data)
        payload.append(Data(",\"metadata\":{\"request_id\":\(requestID.map(Self.quoted) ?? "null")}}".utf8))
        let sealed = try encryption.sealPayload(payload)
        let endpoints = self.endpoints
        return try await database.withTransaction { connection in
            if let key = idempotencyKey, let first = try await Self.existing(key: key, on: connection, logger: logger) {
                return first
            }
            let subscribed = try await endpoints.all(on: connection, logger: logger)
                .filter { $0.enabled && EventTypeFilter.matches(type, filters: $0.eventTypes) }
            let body = "{\"id\":\"\(id.uuidString.lowercased())\",\"deliveries\":\(subscribed.count)}"
            let inserted = try await connection.query(
                """
                INSERT INTO webhook_messages (id, event_type, payload, payload_encrypted, idempotency_key, response, request_id, created_at)
                VALUES (\(id), \(type), \(sealed.data), \(sealed.encrypted), \(idempotencyKey), \(body), \(requestID), \(now))
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1
                """,
                logger: logger
            )
            var fresh = false
            for try await _ in inserted { fresh = true }
            if !fresh, let key = idempotencyKey, let first = try await Self.existing(key: key, on: connection, logger: logger) {
                return first
            }
            if !subscribed.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at)
                    SELECT gen_random_uuid(), \(id), endpoint, 'pending', \(now), \(now) FROM unnest(\(subscribed.map(\.id))::uuid[]) AS endpoint
                    """,
                    logger: logger
                )
            }
            try await Counters.increment("webhook_messages_total", labels: [:], on: connection, logger: logger)
            try await Counters.increment("webhook_deliveries_created_total", by: Int64(subscribed.count), on: connection, logger: logger)
            return Published(id: id, deliveries: subscribed.count, body: body)
        }
    }

    static func existing(key: String, on connection: PostgresConnection, logger: Logger) async throws -> Published? {
        let rows = try await connection.query("SELECT id, response FROM webhook_messages WHERE idempotency_key = \(key)", logger: logger)
        for try await (id, body) in rows.decode((UUID, String).self) {
            let deliveries = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["deliveries"] as? Int ?? 0
            return Published(id: id, deliveries: deliveries, body: body)
        }
        return nil
    }

    static func quoted(_ text: String) -> String {
        String(decoding: (try? JSONEncoder.webhook.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    // MARK: Drain

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
                for result in results { report.add(result) }
            }
        } catch {
            await sender.shutdown()
            throw error
        }
        await sender.shutdown()
        return report
    }

    enum AttemptResult: Sendable {
        case succeeded, retrying, failed, lost
        case disabled(AttemptResultBox)
    }

    final class AttemptResultBox: Sendable {
        let inner: AttemptResult
        init(_ inner: AttemptResult) { self.inner = inner }
    }

    /// Sends every claim with a global bound and a per-endpoint bound on requests in flight.
    func send(_ claims: [DeliveryQueue.Claim], sender: WebhookSender, logger: Logger) async -> [AttemptResult] {
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
        return await withTaskGroup(of: (UUID, AttemptResult).self) { group in
            var inFlight: [UUID: Int] = [:]
            var total = 0
            var results: [AttemptResult] = []
            var pending = ordered[...]
            var deferred: [DeliveryQueue.Claim] = []
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
                    group.addTask { (claim.endpoint.id, await self.attempt(claim, sender: sender, logger: logger)) }
                }
                guard let (endpoint, result) = await group.next() else { break }
                inFlight[endpoint, default: 1] -= 1
                total -= 1
                results.append(result)
            }
            return results
        }
    }

    /// One attempt: send, classify, record.
    func attempt(_ claim: DeliveryQueue.Claim, sender: WebhookSender, logger: Logger) async -> AttemptResult {
        let startedAt = clock.now()
        let body: Data
        do {
            body = try encryption.openPayload(claim.payload, encrypted: claim.payloadEncrypted)
        } catch {
            logger.error("cannot decrypt a webhook payload: FIELD_ENCRYPTION_KEY differs from the one it was stored with")
            return .lost
        }
        let timestamp = Int64(startedAt.timeIntervalSince1970)
        let webhookID = "msg_" + claim.messageID.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
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
            startedAt: startedAt, durationMilliseconds: Int(result.duration.components.seconds * 1000 + result.duration.components.attoseconds / 1_000_000_000_000_000),
            statusCode: result.statusCode, responseBody: result.responseBody.map { String($0.prefix(1024)) }, errorKind: result.errorKind,
            status: "succeeded", nextAttemptAt: nil, disableEndpoint: nil, succeeded: result.succeeded
        )
        if !result.succeeded {
            if result.statusCode == 410 {
                outcome.status = "failed"
                outcome.disableEndpoint = "endpoint answered 410 Gone"
            } else if let next = settings.schedule.nextAttempt(after: claim.attempt, at: now, retryAfter: result.retryAfter) {
                outcome.status = "pending"
                outcome.nextAttemptAt = next
            } else {
                outcome.status = "failed"
            }
        }
        let disableAfter = settings.disableAfter
        let finalOutcome = outcome
        do {
            guard let stillEnabled = try await database.withConnection({ connection in
                try await DeliveryQueue.finish(claim, outcome: finalOutcome, now: now, disableAfter: disableAfter, on: connection, logger: logger)
            }) else { return .lost }
            let base: AttemptResult = result.succeeded ? .succeeded : (outcome.status == "pending" ? .retrying : .failed)
            if claim.endpoint.enabled && !stillEnabled {
                try await database.withTransaction { connection in
                    try await Counters.increment("webhook_endpoints_disabled_total", on: connection, logger: logger)
                    try await AuditLog.record(
                        AuditEvent(action: "webhook_endpoint_disabled", outcome: "success", detail: ["endpoint": claim.endpoint.id.uuidString.lowercased()]),
                        at: now, on: connection, logger: logger
                    )
                }
                return .disabled(AttemptResultBox(base))
            }
            return base
        } catch {
            // The result could not be written: the lease will lapse and another drain will retry it.
            logger.warning("could not record a webhook attempt: \(error)")
            return .lost
        }
    }
}

extension WebhookDispatcher.DrainReport {
    mutating func add(_ result: WebhookDispatcher.AttemptResult) {
        switch result {
        case .succeeded: succeeded += 1
        case .retrying: retrying += 1
        case .failed: failed += 1
        case .lost: lostClaims += 1
        case .disabled(let box):
            endpointsDisabled += 1
            add(box.inner)
        }
    }
}

extension ISO8601DateFormatter {
    /// `2026-11-27T06:20:33.123Z`.
    static var webhook: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

extension JSONEncoder {
    /// Strings without escaped slashes.
    static var webhook: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }
}
