import Domain
import Foundation
public import Logging
import Outbound
import Primitives
import Store

extension WebhookDispatcher {
    /// Delivers what is due until nothing is or the budget ends, and returns within the budget (plus the time to
    /// write the last results). An attempt starts only while the budget and its claim's lease both cover its whole
    /// timeout; a claim that cannot start in time is given back, due again at once.
    public func drain(budget: Duration? = nil, logger: Logger) async throws -> DrainReport {
        let budget = budget ?? settings.drainBudget
        return try await deliver(
            [], claiming: true, deadline: ContinuousClock.now + budget, attemptTimeout: min(settings.timeout, budget), logger: logger
        )
    }

    /// How one attempt ended, and whether it disabled its endpoint.
    struct Recorded: Sendable {
        var result: AttemptResult
        var disabledEndpoint = false

        static let lost = Recorded(result: .lost)
    }

    enum Event: Sendable {
        case claimed(Result<[DeliveryQueue.Claim], any Error>)
        case attempted(DeliveryQueue.Claim, DeliveryQueue.Outcome)
        case recorded([Recorded])
    }

    /// The one loop behind drains and first attempts: sends `initial` claims (and, when `claiming`, claims more as
    /// the queue runs low, while the previous claim's requests are still in flight) with a global and a per-endpoint
    /// bound on requests in flight, and records results in batches: whatever finished while the previous batch was
    /// being written goes into the next one.
    ///
    /// An endpoint holds at most `perEndpointConcurrency × rounds` deliveries here (in flight and waiting), where
    /// `rounds` is how many of its attempts fit in the lease: counted with the attempt timeout until this drain has
    /// seen the endpoint answer, then with the longest attempt it has seen (so a fast endpoint is claimed in large
    /// batches and a slow one in small ones). A claim takes no more than the rest, so an endpoint holds what it can
    /// finish under its lease; should it turn slow, the check before each attempt gives back what no longer fits.
    func deliver(
        _ initial: [DeliveryQueue.Claim], claiming: Bool, deadline: ContinuousClock.Instant, attemptTimeout: Duration, logger: Logger
    ) async throws -> DrainReport {
        let sender = WebhookSender(clients: clients, allowPrivateTargets: settings.allowPrivateTargets)
        let tokens = IDTokens(host: settings.metadataHost, clients: clients)
        let concurrency = settings.concurrency
        let perEndpoint = settings.perEndpointConcurrency
        let rounds = settings.rounds(timeout: attemptTimeout)
        // However fast an endpoint, one claim takes at most a claim batch of it.
        let maxRounds = max(rounds, settings.claimBatch / max(perEndpoint, 1))
        /// The longest attempt seen per endpoint in this drain.
        var slowest: [UUID: Duration] = [:]
        let window = AttemptWindow(started: ContinuousClock.now, deadline: deadline, attemptTimeout: attemptTimeout)
        var report = DrainReport()
        var failure: (any Error)?
        var released: [DeliveryQueue.Claim] = []
        await withTaskGroup(of: Event.self) { group in
            var waiting = initial
            var inFlight: [UUID: Int] = [:]
            var total = 0
            var claimInProgress = false
            var mayClaim = claiming
            // The full endpoints when a claim came back empty: until one of them has room again, claiming more would
            // come back empty too.
            var emptyWithFull: Set<UUID>?
            var claimedWithFull: Set<UUID> = []
            var unrecorded: [(claim: DeliveryQueue.Claim, outcome: DeliveryQueue.Outcome)] = []
            var recording = false
            report.claimed = initial.count
            /// The first waiting claim whose endpoint has a free slot.
            func next() -> DeliveryQueue.Claim? {
                guard let index = waiting.firstIndex(where: { inFlight[$0.endpointID, default: 0] < perEndpoint }) else { return nil }
                return waiting.remove(at: index)
            }
            while true {
                let now = ContinuousClock.now
                let timeout = window.timeout(at: now)
                if window.isClosed(at: now) {
                    // Nothing more can start within the budget.
                    if mayClaim || !waiting.isEmpty { report.budgetExhausted = true }
                    mayClaim = false
                    released += waiting
                    waiting = []
                }
                while total < concurrency, let claim = next() {
                    guard window.fits(at: now, leaseEnds: claim.leaseEnds) else {
                        released.append(claim)
                        continue
                    }
                    inFlight[claim.endpointID, default: 0] += 1
                    total += 1
                    group.addTask { .attempted(claim, await self.attempt(claim, sender: sender, tokens: tokens, timeout: timeout, logger: logger)) }
                }
                // What each endpoint already holds here, in flight or waiting, against what its slots can attempt
                // inside a lease: a claim takes no more than the rest, and nothing for an endpoint with less than a
                // round of room (claims of one or two rows would cost a transaction per delivery).
                var held = inFlight
                for claim in waiting { held[claim.endpointID, default: 0] += 1 }
                for endpoint in slowest.keys where held[endpoint] == nil { held[endpoint] = 0 }
                let room = held.map { endpoint, count -> (UUID, Int) in
                    let capacity = perEndpoint * (slowest[endpoint].map { settings.rounds(timeout: max($0, .milliseconds(10)), limit: maxRounds) } ?? rounds)
                    return (endpoint, count > capacity - perEndpoint ? 0 : capacity - count)
                }
                .reduce(into: [UUID: Int]()) { $0[$1.0] = $1.1 }
                let full = Set(room.filter { $0.value <= 0 }.keys)
                if mayClaim, !claimInProgress, waiting.count < concurrency, emptyWithFull.map({ !full.isSuperset(of: $0) }) ?? true {
                    claimInProgress = true
                    claimedWithFull = full
                    emptyWithFull = nil
                    group.addTask {
                        do {
                            return .claimed(.success(try await self.claim(rounds: rounds, room: room, logger: logger)))
                        } catch {
                            return .claimed(.failure(error))
                        }
                    }
                }
                if !recording, !unrecorded.isEmpty {
                    let batch = unrecorded
                    unrecorded = []
                    recording = true
                    group.addTask { .recorded(await self.record(batch, logger: logger)) }
                }
                guard let event = await group.next() else { break }
                switch event {
                case .claimed(.success(let claims)):
                    claimInProgress = false
                    report.claimed += claims.count
                    if claims.isEmpty {
                        // Nothing due at all, or nothing due but for endpoints that have enough waiting already.
                        if claimedWithFull.isEmpty { mayClaim = false } else { emptyWithFull = claimedWithFull }
                    }
                    waiting += claims
                case .claimed(.failure(let error)):
                    claimInProgress = false
                    mayClaim = false
                    failure = error
                case .attempted(let claim, let outcome):
                    let took = Duration.milliseconds(outcome.durationMilliseconds)
                    slowest[claim.endpointID] = max(slowest[claim.endpointID] ?? .zero, took)
                    inFlight[claim.endpointID, default: 1] -= 1
                    total -= 1
                    unrecorded.append((claim, outcome))
                case .recorded(let recorded):
                    recording = false
                    for entry in recorded {
                        report.count(entry.result)
                        if entry.disabledEndpoint { report.endpointsDisabled += 1 }
                    }
                }
            }
        }
        if !released.isEmpty {
            do {
                let unattempted = released
                try await database.withConnection { connection in try await DeliveryQueue.release(unattempted, on: connection, logger: logger) }
            } catch {
                // Not given back: they come back when their lease ends.
                logger.warning("could not give back unattempted webhook claims: \(error)")
            }
        }
        if let failure, report.claimed == 0 { throw failure }
        return report
    }

    /// One claim sized to what the lease covers: `rounds` attempt timeouts per endpoint slot.
    func claim(rounds: Int, room: [UUID: Int], logger: Logger) async throws -> [DeliveryQueue.Claim] {
        let now = clock.now()
        let (limit, perEndpoint, lease, encryption) = (
            min(settings.claimBatch, settings.concurrency * rounds), settings.perEndpointConcurrency * rounds, settings.lease, self.encryption
        )
        return try await database.withTransaction { connection in
            try await DeliveryQueue.claim(
                limit: limit, perEndpoint: perEndpoint, room: room, now: now, lease: lease, encryption: encryption,
                on: connection, logger: logger
            )
        }
    }

    /// Writes a batch of results (one statement), then counts and audits endpoints that this batch disabled. A
    /// batch that cannot be written is written again one result at a time, so one bad result cannot hold back the
    /// others; a result that still cannot be written is logged and its claim left to lapse (another drain retries it
    /// when the lease ends, and its attempt is recorded as `lease_expired`).
    func record(_ batch: [(claim: DeliveryQueue.Claim, outcome: DeliveryQueue.Outcome)], logger: Logger) async -> [Recorded] {
        let now = clock.now()
        let disableAfter = settings.disableAfter
        func write(_ part: [(claim: DeliveryQueue.Claim, outcome: DeliveryQueue.Outcome)]) async throws -> [UUID: Bool] {
            try await database.withConnection { connection in
                try await DeliveryQueue.finish(part, now: now, disableAfter: disableAfter, on: connection, logger: logger)
            }
        }
        var held: [UUID: Bool] = [:]
        do {
            held = try await write(batch)
        } catch {
            logger.warning("could not record a batch of webhook attempts, recording them one by one: \(error)")
            for entry in batch {
                do {
                    held.merge(try await write([entry])) { first, _ in first }
                } catch {
                    logger.error("could not record a webhook attempt: \(error)", metadata: ["delivery": "\(entry.claim.deliveryID)"])
                }
            }
        }
        var disabled = Set<UUID>()
        let results = batch.map { claim, outcome -> Recorded in
            guard let disabledNow = held[claim.deliveryID] else { return .lost }
            let base = Recorded(result: outcome.status.result)
            guard disabledNow, disabled.insert(claim.endpointID).inserted else { return base }
            return Recorded(result: base.result, disabledEndpoint: true)
        }
        for endpoint in disabled {
            do {
                try await database.withTransaction { connection in
                    try await Counters.increment("webhook_endpoints_disabled_total", on: connection, logger: logger)
                    try await AuditLog.record(
                        AuditEvent(action: "webhook_endpoint_disabled", outcome: "success", detail: ["endpoint": endpoint.uuidString.lowercased()]),
                        at: now, on: connection, logger: logger
                    )
                }
            } catch {
                logger.warning("could not audit a disabled webhook endpoint: \(error)")
            }
        }
        return results
    }

    /// One attempt: open, sign, send within `timeout`, and classify. A failure no retry can fix (a refused URL, a
    /// secret or payload that cannot be opened) fails the delivery at once; a refused URL or secret also disables
    /// the endpoint with the reason.
    func attempt(_ claim: DeliveryQueue.Claim, sender: WebhookSender, tokens: IDTokens, timeout: Duration, logger: Logger) async -> DeliveryQueue.Outcome {
        let startedAt = clock.now()
        let result: WebhookSender.Result
        switch (claim.endpoint, Result { try encryption.openPayload(claim.payload, encrypted: claim.payloadEncrypted) }) {
        case (.failure(let failure), _):
            logger.error("cannot open a webhook endpoint's secret: FIELD_ENCRYPTION_KEY differs from the one it was stored with")
            result = .init(failure: failure, duration: .zero)
        case (_, .failure):
            logger.error("cannot open a webhook payload: FIELD_ENCRYPTION_KEY differs from the one it was stored with")
            result = .init(failure: .undecryptablePayload, duration: .zero)
        case (.success(let endpoint), .success(let body)):
            if settings.requireHTTPS, !endpoint.url.lowercased().hasPrefix("https://") {
                result = .init(failure: .insecureURL, duration: .zero)
            } else {
                let timestamp = Int64(startedAt.timeIntervalSince1970)
                let webhookID = "msg_" + claim.messageID.compactHex
                var headers = [
                    ("webhook-id", webhookID),
                    ("webhook-timestamp", String(timestamp)),
                    ("webhook-signature", WebhookSignature.standardHeader(id: webhookID, timestamp: timestamp, body: body, secrets: endpoint.signingSecrets(at: startedAt))),
                    ("X-Signature", WebhookSignature.hex(body: body, secret: endpoint.secret)),
                ]
                let began = ContinuousClock.now
                let authorization: Result<String?, DeliveryFailure> =
                    if let audience = endpoint.idTokenAudience { await tokens.authorization(audience: audience, logger: logger) } else { .success(nil) }
                switch authorization {
                case .failure(let failure):
                    result = .init(failure: failure, duration: ContinuousClock.now - began)
                case .success(let authorization):
                    if let authorization { headers.append(("Authorization", authorization)) }
                    result = await sender.send(
                        url: endpoint.url, headers: headers, body: body, timeout: timeout - (ContinuousClock.now - began), logger: logger
                    )
                }
            }
        }
        // What the partner answered may echo the payload: a token in REAL_DATA_MODE, like the payload.
        let body = try? result.responseBody.map(encryption.sealText)
        var outcome = DeliveryQueue.Outcome(
            startedAt: startedAt, durationMilliseconds: result.duration.wholeMilliseconds, statusCode: result.statusCode,
            responseBody: body?.text, responseEncrypted: body?.encrypted ?? false, errorKind: result.failure?.rawValue,
            status: result.succeeded ? .succeeded : .failed
        )
        guard !result.succeeded else { return outcome }
        if let failure = result.failure, !failure.isRetryable {
            if failure.disablesEndpoint { outcome.disableEndpoint = "cannot deliver: \(failure.rawValue)" }
        } else if result.statusCode == 410 {
            outcome.disableEndpoint = "endpoint answered 410 Gone"
        } else if let next = settings.schedule.nextAttempt(after: claim.attempt, at: clock.now(), retryAfter: result.retryAfter) {
            outcome.status = .pending
            outcome.nextAttemptAt = next
        }
        return outcome
    }
}
