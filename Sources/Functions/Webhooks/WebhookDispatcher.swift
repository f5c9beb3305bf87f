import Domain
import Foundation
public import Logging
public import Outbound
import PostgresNIO
import Primitives
import Store

/// `webhook-dispatch`'s rules: publish an event as one message and one delivery per subscribed endpoint in a
/// single transaction, and drain due deliveries with bounded concurrency, retries and a full attempt record.
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
    /// one transaction, reading only routing data (ids, filters, enabled: no secret is opened). With a first-attempt
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
        let (published, deliveries) = try await database.withTransaction { connection -> (Published, [(UUID, UUID)]) in
            if let key, let earlier = try await Self.existing(key: key, on: connection, logger: logger) {
                return (earlier, [])
            }
            let subscribed = try await endpoints.subscribers(to: type, on: connection, logger: logger)
            let published = Published(id: id, deliveries: subscribed.count)
            let body = String(decoding: try JSONEncoder.stable.encode(published), as: UTF8.self)
            let inserted = try await connection.query(
                """
                INSERT INTO webhook_messages (id, event_type, payload, payload_encrypted, idempotency_key, response, request_id, created_at)
                VALUES (\(id), \(type), \(sealed.data), \(sealed.encrypted), \(key), \(body), \(requestID), \(now))
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1
                """,
                logger: logger
            )
            var fresh = false
            for try await _ in inserted { fresh = true }
            if !fresh, let key, let earlier = try await Self.existing(key: key, on: connection, logger: logger) {
                return (earlier, [])
            }
            let deliveries = subscribed.map { (UUID.random(), $0) }
            if !deliveries.isEmpty {
                // Claimed by this call when it makes first attempts (attempt 1 under its token), else due now.
                try await connection.query(
                    """
                    INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at, attempts, claim_token, claimed_until)
                    SELECT delivery, \(id), endpoint, 'pending', \(now), \(now), \(first == nil ? 0 : 1), \(first?.token),
                        \(first?.claimedUntil)
                    FROM unnest(\(deliveries.map(\.0))::uuid[], \(deliveries.map(\.1))::uuid[]) AS d (delivery, endpoint)
                    """,
                    logger: logger
                )
            }
            try await Counters.increment("webhook_messages_total", labels: [:], on: connection, logger: logger)
            try await Counters.increment("webhook_deliveries_created_total", by: Int64(deliveries.count), on: connection, logger: logger)
            return (published, deliveries)
        }
        guard let first, !deliveries.isEmpty else { return published }
        await attemptFirst(deliveries, messageID: id, payload: sealed, claim: first, logger: logger)
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
        _ deliveries: [(UUID, UUID)], messageID: UUID, payload sealed: (data: Data, encrypted: Bool), claim: FirstAttempts, logger: Logger
    ) async {
        let endpoints = self.endpoints
        do {
            let opened = try await database.withConnection { connection in
                try await endpoints.forSending(ids: deliveries.map(\.1), on: connection, logger: logger)
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
