import Crypto
import Domain
import Foundation
public import Logging
import PostgresNIO
import Primitives
import Runtime
import Store

/// `webhook-receive`'s rules: verify over the raw bytes, then store the event durably, once per sender
/// message id, before answering.
public struct WebhookReceiver: Sendable {
    /// What the sender put in the headers that matter.
    public struct Headers: Sendable {
        /// `webhook-id`.
        public var webhookID: String?
        /// `webhook-timestamp`.
        public var webhookTimestamp: String?
        /// `webhook-signature`.
        public var webhookSignature: String?
        /// `X-Signature`.
        public var xSignature: String?
        /// `X-Event-Type`.
        public var eventType: String?
        /// `X-Event-ID`.
        public var eventID: String?

        /// Creates the header set.
        public init(
            webhookID: String? = nil, webhookTimestamp: String? = nil, webhookSignature: String? = nil, xSignature: String? = nil,
            eventType: String? = nil, eventID: String? = nil
        ) {
            self.webhookID = webhookID
            self.webhookTimestamp = webhookTimestamp
            self.webhookSignature = webhookSignature
            self.xSignature = xSignature
            self.eventType = eventType
            self.eventID = eventID
        }
    }

    /// What was stored for a request: the event's id and whether its type was accepted or ignored. A duplicate gets
    /// the first request's receipt.
    public struct Receipt: Sendable, Equatable {
        /// Whether the source may send the event's type.
        public enum Disposition: String, Sendable {
            /// Stored for processing.
            case accepted
            /// Stored, but of a type the source may not send.
            case ignored
        }

        /// The event's row id.
        public var id: UUID
        /// Accepted or ignored.
        public var disposition: Disposition
    }

    let database: Database
    let sources: WebhookSourceStore
    let encryption: FieldEncryption
    let clock: WallClock
    /// Hands accepted events to their source's consumers (first attempts, within its budget).
    let dispatcher: WebhookDispatcher

    /// Creates the receiver; `dispatcher` makes the first attempts to consumers.
    public init(database: Database, encryption: FieldEncryption, dispatcher: WebhookDispatcher, clock: WallClock = .system) {
        self.database = database
        self.sources = WebhookSourceStore(encryption: encryption)
        self.encryption = encryption
        self.dispatcher = dispatcher
        self.clock = clock
    }

    /// Verifies, classifies and stores one request for `slug`, and hands an accepted new event to the source's
    /// consumers.
    ///
    /// What an event is comes from signed bytes only: its id is the signed `webhook-id` (Standard Webhooks) or, for
    /// `hmac-sha256` sources, the payload's `id`, else the body's SHA-256; its type is the payload's `type` (or
    /// `event_type`). `X-Event-ID` and `X-Event-Type`, which no signature covers, are recorded and never used.
    ///
    /// One leased connection, two prepared round trips: the source (and whether it has consumers), then one
    /// self-committing statement that stores the event and counts it (accepted, ignored, or duplicate), and for a
    /// source with consumers creates one message and a delivery per consumer that takes it. With a first-attempt
    /// budget those deliveries are created claimed and attempted before the answer. A refusal is recorded after the
    /// connection is back.
    public func receive(slug: String, headers: Headers, body: Data, requestID: String?, logger: Logger) async throws -> Receipt {
        let now = clock.now()
        let sources = self.sources
        let encryption = self.encryption
        let first = WebhookDispatcher.FirstAttempts.make(dispatcher.settings, now: now)
        let checked: Checked = try await database.withConnection { connection in
            guard let source = try await sources.find(slug: slug, on: connection, logger: logger), source.enabled else { return .unknownSource }
            do throws(WebhookSignature.Failure) {
                switch source.scheme {
                case .standard:
                    try WebhookSignature.verifyStandard(
                        id: headers.webhookID, timestamp: headers.webhookTimestamp, signatures: headers.webhookSignature,
                        body: body, secrets: source.activeSecrets(at: now), now: now
                    )
                case .hmacSHA256:
                    try WebhookSignature.verifyHex(headers.xSignature, body: body, secrets: source.activeSecrets(at: now))
                }
            } catch {
                return .badSignature(source.slug, error)
            }
            let payload: Payload
            switch Payload.read(body) {
            case .success(let read): payload = read
            case .failure(let rejection): return .invalid(source.slug, rejection)
            }
            let eventType = payload.eventType
            let messageID = Self.messageID(scheme: source.scheme, webhookID: headers.webhookID, payloadID: payload.id, body: body)
            let allowed = source.allows(eventType)
            let receipt = Receipt(id: UUID.random(), disposition: allowed ? .accepted : .ignored)
            let answer = Answers.received(receipt)
            let sealed = try encryption.sealPayload(body)
            let event = StoreEventStatement(
                id: receipt.id, sourceID: source.id, sourceSlug: source.slug, messageID: messageID, eventType: eventType,
                status: receipt.disposition.rawValue, payload: sealed.data, payloadEncrypted: sealed.encrypted, receivedAt: now,
                requestID: requestID, responseStatus: Int(answer.status.code), responseBody: answer.body,
                outcome: receipt.disposition.rawValue, shard: Counters.randomShard(), unsignedHeaders: Self.unsigned(headers, scheme: source.scheme)
            )
            if source.hasConsumers, allowed {
                let forward = ForwardedEvent(source: source.slug, eventID: receipt.id, eventType: eventType, messageID: messageID, requestID: requestID, now: now)
                let envelope = try encryption.sealPayload(forward.envelope(body))
                let statement = ForwardEventStatement(
                    event: event,
                    forward: .init(
                        id: forward.messageRowID, type: forward.type, payload: envelope.data, payloadEncrypted: envelope.encrypted,
                        claimToken: first?.token, claimedUntil: first?.claimedUntil
                    )
                )
                var stored: ForwardEventStatement.Row = (false, [], [])
                for try await row in try await connection.execute(statement, logger: logger) { stored = row }
                if stored.fresh { return .stored(receipt, Array(zip(stored.deliveries, stored.endpoints)), forward.messageRowID, envelope) }
            } else {
                var fresh = false
                for try await value in try await connection.execute(event, logger: logger) { fresh = value }
                if fresh { return .stored(receipt, [], nil, nil) }
            }
            // A duplicate: the first request's receipt (read with a fresh snapshot, so a concurrent first is seen).
            let firstReceipt = try await connection.query(
                "SELECT id, status FROM webhook_events WHERE source_id = \(source.id) AND message_id = \(messageID)",
                logger: logger
            )
            for try await (id, status) in firstReceipt.decode((UUID, String).self) {
                return .stored(Receipt(id: id, disposition: Receipt.Disposition(rawValue: status) ?? .accepted), [], nil, nil)
            }
            return .stored(receipt, [], nil, nil)
        }
        switch checked {
        case .stored(let receipt, let deliveries, let messageID, let envelope):
            if let first, let messageID, let envelope, !deliveries.isEmpty {
                await dispatcher.attemptFirst(deliveries, messageID: messageID, payload: envelope, claim: first, logger: logger)
            }
            return receipt
        case .unknownSource:
            try await count(outcome: "rejected", source: "unknown", logger: logger)
            throw ReceiveRejection.unknownSource
        case .badSignature(let slug, let error):
            try await database.withTransaction { connection in
                // Counted per source, reason and minute: anyone can post a bad signature.
                try await AuditLog.countRefusal(
                    AuditEvent(action: "webhook_receive", outcome: "rejected", requestID: requestID, detail: ["source": slug, "reason": "\(error)"]),
                    source: "\(slug)/\(error)", at: now, on: connection, logger: logger
                )
                try await Counters.increment("webhook_received_total", labels: ["source": slug, "outcome": "rejected"], on: connection, logger: logger)
            }
            throw ReceiveRejection.badSignature(error)
        case .invalid(let slug, let rejection):
            try await count(outcome: "rejected", source: slug, logger: logger)
            throw rejection
        }
    }

    private enum Checked: Sendable {
        /// Stored (or a duplicate): the receipt, and for a new accepted event with consumers the deliveries made
        /// (delivery, endpoint), the message's id and its sealed envelope.
        case stored(Receipt, [(UUID, UUID)], UUID?, (data: Data, encrypted: Bool)?)
        case unknownSource
        case badSignature(String, WebhookSignature.Failure)
        case invalid(String, ReceiveRejection)
    }

    /// What the receiver reads from a signed body: whether it is JSON at all, and from an object its type and id.
    struct Payload {
        var eventType: String?
        var id: String?

        /// The longest event type kept (and forwarded as `<source>.<type>`).
        static let maximumTypeBytes = 200

        /// The body's type and id, or why it cannot be taken: not JSON, a repeated top-level key (parsers disagree
        /// on which one counts), or a type that is not a short line of text.
        static func read(_ body: Data) -> Result<Payload, ReceiveRejection> {
            guard let first = body.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) else { return .failure(.notJSON) }
            guard first == UInt8(ascii: "{") else {
                return RawJSONObject.isValidJSON(body) ? .success(Payload()) : .failure(.notJSON)
            }
            let object: RawJSONObject
            do {
                object = try RawJSONObject(parsing: body)
            } catch {
                return .failure(error.isDuplicateKey ? .duplicateKey : .notJSON)
            }
            var payload = Payload()
            payload.eventType = (try? object.string("type")) ?? nil
            if payload.eventType == nil { payload.eventType = (try? object.string("event_type")) ?? nil }
            if let type = payload.eventType {
                guard !type.isEmpty, type.utf8.count <= maximumTypeBytes, !IdempotencyKey.hasControlCharacters(type) else {
                    return .failure(.invalidEventType)
                }
            }
            if let raw = object["id"] {
                if raw.first == UInt8(ascii: "\"") {
                    payload.id = (try? object.string("id")) ?? nil
                } else if let text = Self.number(raw) {
                    payload.id = text
                }
            }
            return .success(payload)
        }

        /// A JSON number as the original system's parser wrote it back: integers as written, others via Double.
        static func number(_ raw: Data) -> String? {
            guard let first = raw.first, first == UInt8(ascii: "-") || (first >= 48 && first <= 57) else { return nil }
            let text = String(decoding: raw, as: UTF8.self)
            if raw.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) }), Int64(text) != nil { return text }
            return Double(text).map { NSNumber(value: $0).stringValue }
        }
    }

    /// The sender's message id, from signed bytes only: the signed `webhook-id` for a Standard Webhooks source; for
    /// an `hmac-sha256` source (whose signature covers the body alone) the payload's `id` when it is a short line of
    /// text, else the body's SHA-256.
    static func messageID(scheme: WebhookSource.Scheme, webhookID: String?, payloadID: String?, body: Data) -> String {
        let candidate = scheme == .standard ? webhookID : payloadID
        if let candidate, !candidate.isEmpty, candidate.utf8.count <= 200, !IdempotencyKey.hasControlCharacters(candidate) {
            return candidate
        }
        return "sha256:" + Hex.lowercase(SHA256.hash(data: body))
    }

    /// The headers a sender set that its signature does not cover, as a JSON object to record (nil when none):
    /// `X-Event-ID` and `X-Event-Type` always, and `webhook-id` for an `hmac-sha256` source. Values are kept as
    /// safe text of at most 200 bytes.
    static func unsigned(_ headers: Headers, scheme: WebhookSource.Scheme) -> String? {
        var members: [String] = []
        for (name, value) in [("x-event-id", headers.eventID), ("x-event-type", headers.eventType), ("webhook-id", scheme == .standard ? nil : headers.webhookID)] {
            guard let value else { continue }
            members.append(JSONText.quoted(name) + ":" + JSONText.quoted(PartnerText.stored(Data(value.utf8), maxBytes: 200)))
        }
        return members.isEmpty ? nil : "{" + members.joined(separator: ",") + "}"
    }

    private func count(outcome: String, source: String, logger: Logger) async throws {
        try await database.withTransaction { connection in
            try await Counters.increment("webhook_received_total", labels: ["source": source, "outcome": outcome], on: connection, logger: logger)
        }
    }
}
