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

    /// Creates the receiver.
    public init(database: Database, encryption: FieldEncryption, clock: WallClock = .system) {
        self.database = database
        self.sources = WebhookSourceStore(encryption: encryption)
        self.encryption = encryption
        self.clock = clock
    }

    /// Verifies, classifies and stores one request for `slug`.
    ///
    /// One leased connection, two prepared round trips: the source, then one self-committing statement that stores
    /// the event and counts it (accepted, ignored, or duplicate). A refusal is recorded after the connection is back.
    public func receive(slug: String, headers: Headers, body: Data, requestID: String?, logger: Logger) async throws -> Receipt {
        let now = clock.now()
        let sources = self.sources
        let encryption = self.encryption
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
            guard let payload = Payload(body) else { return .notJSON(source.slug) }
            let eventType = payload.eventType ?? headers.eventType
            let messageID = Self.messageID(headers: headers, payloadID: payload.id, body: body)
            let allowed = source.allows(eventType)
            let receipt = Receipt(id: UUID.random(), disposition: allowed ? .accepted : .ignored)
            let answer = Answers.received(receipt)
            let sealed = try encryption.sealPayload(body)
            let statement = StoreEventStatement(
                id: receipt.id, sourceID: source.id, sourceSlug: source.slug, messageID: messageID, eventType: eventType,
                status: receipt.disposition.rawValue, payload: sealed.data, payloadEncrypted: sealed.encrypted, receivedAt: now,
                requestID: requestID, responseStatus: Int(answer.status.code), responseBody: answer.body,
                outcome: receipt.disposition.rawValue, shard: Counters.randomShard()
            )
            var fresh = false
            for try await value in try await connection.execute(statement, logger: logger) { fresh = value }
            if fresh { return .stored(receipt) }
            // A duplicate: the first request's receipt (read with a fresh snapshot, so a concurrent first is seen).
            let first = try await connection.query(
                "SELECT id, status FROM webhook_events WHERE source_id = \(source.id) AND message_id = \(messageID)",
                logger: logger
            )
            for try await (id, status) in first.decode((UUID, String).self) {
                return .stored(Receipt(id: id, disposition: Receipt.Disposition(rawValue: status) ?? .accepted))
            }
            return .stored(receipt)
        }
        switch checked {
        case .stored(let receipt):
            return receipt
        case .unknownSource:
            try await count(outcome: "rejected", source: "unknown", logger: logger)
            throw ReceiveRejection.unknownSource
        case .badSignature(let slug, let error):
            try await database.withTransaction { connection in
                try await AuditLog.record(
                    AuditEvent(action: "webhook_receive", outcome: "rejected", requestID: requestID, detail: ["source": slug, "reason": "\(error)"]),
                    at: now, on: connection, logger: logger
                )
                try await Counters.increment("webhook_received_total", labels: ["source": slug, "outcome": "rejected"], on: connection, logger: logger)
            }
            throw ReceiveRejection.badSignature(error)
        case .notJSON(let slug):
            try await count(outcome: "rejected", source: slug, logger: logger)
            throw ReceiveRejection.notJSON
        }
    }

    private enum Checked: Sendable {
        case stored(Receipt)
        case unknownSource
        case badSignature(String, WebhookSignature.Failure)
        case notJSON(String)
    }

    /// What the receiver reads from a body: whether it is JSON at all, and from an object its type and id.
    struct Payload {
        var eventType: String?
        var id: String?

        /// Nil when `body` is not one well-formed JSON value.
        init?(_ body: Data) {
            guard let first = body.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) else { return nil }
            guard first == UInt8(ascii: "{") else {
                guard RawJSONObject.isValidJSON(body) else { return nil }
                return
            }
            guard let object = try? RawJSONObject(parsing: body) else { return nil }
            eventType = (try? object.string("type")) ?? nil
            if eventType == nil { eventType = (try? object.string("event_type")) ?? nil }
            if let raw = object["id"] {
                if raw.first == UInt8(ascii: "\"") {
                    id = (try? object.string("id")) ?? nil
                } else if let text = Self.number(raw) {
                    id = text
                }
            }
        }

        /// A JSON number as the original system's parser wrote it back: integers as written, others via Double.
        static func number(_ raw: Data) -> String? {
            guard let first = raw.first, first == UInt8(ascii: "-") || (first >= 48 && first <= 57) else { return nil }
            let text = String(decoding: raw, as: UTF8.self)
            if raw.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) }), Int64(text) != nil { return text }
            return Double(text).map { NSNumber(value: $0).stringValue }
        }
    }

    /// The sender's message id: `webhook-id`, `X-Event-ID`, the payload's `id`, else the body's SHA-256.
    static func messageID(headers: Headers, payloadID: String?, body: Data) -> String {
        for candidate in [headers.webhookID, headers.eventID, payloadID] {
            if let candidate, !candidate.isEmpty, candidate.utf8.count <= 256 { return candidate }
        }
        return "sha256:" + Hex.lowercase(SHA256.hash(data: body))
    }

    private func count(outcome: String, source: String, logger: Logger) async throws {
        try await database.withTransaction { connection in
            try await Counters.increment("webhook_received_total", labels: ["source": source, "outcome": outcome], on: connection, logger: logger)
        }
    }
}
