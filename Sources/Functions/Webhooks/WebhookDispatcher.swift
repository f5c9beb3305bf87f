import Domain
import Foundation
public import Logging
public import Outbound
import PostgresNIO
import Primitives
import Store

/// `webhook-dispatch`'s rules: publish an event as one message and one delivery per subscribed endpoint in a
/// single statement, and drain due deliveries with bounded concurrency, retries and a full attempt record.
public struct WebhookDispatcher: Sendable {
    /// What a publish stored (the first publish's again for a repeated idempotency key).
    public struct Published: Sendable, Equatable, Codable {
        /// The message id.
        public var id: UUID
        /// Deliveries created.
        public var deliveries: Int

        /// Creates the record.
        public init(id: UUID, deliveries: Int) {
            self.id = id
            self.deliveries = deliveries
        }

        /// Ids are written in lowercase, as everywhere else in the answers.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id.uuidString.lowercased(), forKey: .id)
            try container.encode(deliveries, forKey: .deliveries)
        }
    }

    let database: Database
    let endpoints: WebhookEndpointStore
    let encryption: FieldEncryption
    let settings: WebhookSettings
    let clock: WallClock
    /// The process's outgoing HTTP (its pinned webhook clients).
    let clients: ProviderClient

    /// Creates the dispatcher; `clients` is the process's one ``ProviderClient``.
    public init(database: Database, encryption: FieldEncryption, settings: WebhookSettings, clients: ProviderClient, clock: WallClock = .system) {
        self.database = database
        self.endpoints = WebhookEndpointStore(encryption: encryption)
        self.encryption = encryption
        self.settings = settings
        self.clients = clients
        self.clock = clock
    }

    // MARK: Publish

    /// Stores `{type, timestamp, data, metadata: {request_id}}` and a delivery per enabled, subscribed endpoint in
    /// one statement (``PublishStatement``), reading only routing data (ids, filters, enabled: no secret is opened). With a first-attempt
    /// budget the new deliveries are stored already claimed by this call and attempted at once, within the budget,
    /// before it answers; whatever did not succeed is left to drains on the schedule. A repeated idempotency key
    /// stores and sends nothing and answers the first publish.
    public func publish(type: String, data: Data, idempotencyKey: String?, requestID: String?, logger: Logger) async throws -> Published {
        guard EventTypeFilter.isValid(type), type != "*", !type.hasSuffix(".*") else { throw PublishRejection.invalidType }
        let now = clock.now()
        let id = UUID.random()
        let key = idempotencyKey.map(IdempotencyKey.stored)
        let timestamp = Timestamp.milliseconds(now)
        var payload = Data("{\"type\":\(JSONText.quoted(type)),\"timestamp\":\"\(timestamp)\",\"data\":".utf8)
        payload.append(data)
        payload.append(Data(",\"metadata\":{\"request_id\":\(requestID.map(JSONText.quoted) ?? "null")}}".utf8))
        let sealed = try encryption.sealPayload(payload)
        let endpoints = self.endpoints
        let first = FirstAttempts.make(settings, now: now)
        let statement = PublishStatement(
            id: id, type: type, payload: sealed.data, payloadEncrypted: sealed.encrypted, idempotencyKey: key, requestID: requestID, now: now,
            claimToken: first?.token, claimedUntil: first?.claimedUntil, shard: Counters.randomShard()
        )
        let (published, deliveries, opened) = try await database.withConnection {
            connection -> (Published, [(UUID, UUID)], [UUID: Result<WebhookEndpoint, DeliveryFailure>]?) in
            var stored: PublishStatement.Row = (false, [], [])
            for try await row in try await connection.execute(statement, logger: logger) { stored = row }
            guard stored.fresh else {
                // A repeated key: the first publish's answer, read with a fresh snapshot so a concurrent first is seen.
                // Gone since (purged): unavailable, and the caller's retry with its key publishes anew.
                guard let key, let earlier = try await Self.existing(key: key, on: connection, logger: logger) else { throw StoreError.unavailable }
                return (earlier, [], nil)
            }
            let deliveries = Array(zip(stored.deliveries, stored.endpoints))
            // What the first attempts need, on the same connection; stored already, so a failure here only leaves
            // them to the drain (attemptFirst reads them again).
            let opened = first == nil || deliveries.isEmpty ? nil : try? await endpoints.forSending(ids: stored.endpoints, on: connection, logger: logger)
            return (Published(id: id, deliveries: deliveries.count), deliveries, opened)
        }
        guard let first, !deliveries.isEmpty else { return published }
        await attemptFirst(deliveries, messageID: id, payload: sealed, claim: first, endpoints: opened, logger: logger)
        return published
    }

    /// The claim under which a publish (or a receive) stores its new deliveries when it makes their first attempts.
    struct FirstAttempts: Sendable {
        var token: UUID
        /// On the monotonic clock.
        var leaseEnds: ContinuousClock.Instant
        /// On the wall clock, as stored.
        var claimedUntil: Date

        init(token: UUID, leaseEnds: ContinuousClock.Instant, claimedUntil: Date) {
            self.token = token
            self.leaseEnds = leaseEnds
            self.claimedUntil = claimedUntil
        }

        /// A new claim for a lease of `settings.lease` from `now`, or nil when first attempts are off.
        static func make(_ settings: WebhookSettings, now: Date) -> FirstAttempts? {
            guard settings.immediateBudget > .zero else { return nil }
            return FirstAttempts(
                token: UUID.random(), leaseEnds: ContinuousClock.now + settings.lease, claimedUntil: now.addingTimeInterval(settings.lease.seconds)
            )
        }
    }

    /// Makes the first attempts of `deliveries` (delivery id, endpoint id) of one message, stored claimed under
    /// `claim`, within the first-attempt budget; whatever did not succeed is left to drains on the schedule. Never
    /// throws: the deliveries are stored, and a failure here only gives them back, due now.
    func attemptFirst(
        _ deliveries: [(UUID, UUID)], messageID: UUID, payload sealed: (data: Data, encrypted: Bool), claim: FirstAttempts,
        endpoints read: [UUID: Result<WebhookEndpoint, DeliveryFailure>]? = nil, logger: Logger
    ) async {
        let endpoints = self.endpoints
        do {
            let opened: [UUID: Result<WebhookEndpoint, DeliveryFailure>]
            if let read {
                opened = read
            } else {
                opened = try await database.withConnection { connection in
                    try await endpoints.forSending(ids: deliveries.map(\.1), on: connection, logger: logger)
                }
            }
            let claims = deliveries.compactMap { delivery, endpoint -> DeliveryQueue.Claim? in
                guard let found = opened[endpoint] else { return nil }  // deleted since: the claim lapses harmlessly
                return DeliveryQueue.Claim(
                    deliveryID: delivery, messageID: messageID, endpointID: endpoint, endpoint: found, attempt: 1, payload: sealed.data,
                    payloadEncrypted: sealed.encrypted, claimToken: claim.token, leaseEnds: claim.leaseEnds
                )
            }
            let budget = settings.immediateBudget
            _ = try await deliver(claims, claiming: false, deadline: ContinuousClock.now + budget, attemptTimeout: min(settings.timeout, budget), logger: logger)
        } catch {
            // Stored: given back, due now, for the drain (or, if even that fails, when the lease ends).
            logger.warning("first webhook attempts not made: \(error)")
            let ids = deliveries.map(\.0)
            try? await database.withConnection { connection in
                try await WorkQueue.webhookDeliveries.release(ids, token: claim.token, on: connection, logger: logger)
            }
        }
    }

    static func existing(key: String, on connection: PostgresConnection, logger: Logger) async throws -> Published? {
        let rows = try await connection.query("SELECT id, response FROM webhook_messages WHERE idempotency_key = \(key)", logger: logger)
        for try await (id, body) in rows.decode((UUID, String).self) {
            let deliveries = (try? JSONDecoder().decode(Published.self, from: Data(body.utf8)))?.deliveries ?? 0
            return Published(id: id, deliveries: deliveries)
        }
        return nil
    }

}
