import Crypto
import Foundation
public import Logging
import PostgresNIO

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

    /// The answer to send: the first answer again for a duplicate.
    public struct Answer: Sendable, Equatable {
        /// HTTP status (202 accepted, 200 ignored).
        public var status: Int
        /// JSON body.
        public var body: String
        /// How it was counted: accepted, ignored, duplicate.
        public var outcome: String
    }

    /// Why a request is refused.
    public enum Rejection: Error, Sendable, Equatable {
        /// No enabled source has that slug (404).
        case unknownSource
        /// The signature is missing, wrong or its timestamp stale (401).
        case badSignature(WebhookSignature.Failure)
        /// The body is not JSON (400).
        case notJSON
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
    public func receive(slug: String, headers: Headers, body: Data, requestID: String?, logger: Logger) async throws -> Answer {
        let now = clock.now()
        let sources = self.sources
        guard let source = try await database.withConnection({ try await sources.find(slug: slug, on: $0, logger: logger) }),
            source.enabled
        else {
            try await count(outcome: "rejected", source: "unknown", logger: logger)
            throw Rejection.unknownSource
        }
        do {
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
            try await database.withTransaction { connection in
                try await AuditLog.record(
                    AuditEvent(action: "webhook_receive", outcome: "rejected", requestID: requestID, detail: ["source": source.slug, "reason": "\(error)"]),
                    at: now, on: connection, logger: logger
                )
                try await Counters.increment("webhook_received_total", labels: ["source": source.slug, "outcome": "rejected"], on: connection, logger: logger)
            }
            throw Rejection.badSignature(error)
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            try await count(outcome: "rejected", source: source.slug, logger: logger)
            throw Rejection.notJSON
        }
        let object = parsed as? [String: Any]
        let eventType = (object?["type"] as? String) ?? (object?["event_type"] as? String) ?? headers.eventType
        let messageID = Self.messageID(headers: headers, payload: object, body: body)
        let allowed = source.allows(eventType)
        let id = UUID.random()
        let answer = allowed
            ? Answer(status: 202, body: "{\"id\":\"\(id.uuidString.lowercased())\"}", outcome: "accepted")
            : Answer(status: 200, body: "{\"id\":\"\(id.uuidString.lowercased())\",\"status\":\"ignored\"}", outcome: "ignored")
        let sealed = try encryption.sealPayload(body)
        // One self-committing statement stores the event and counts it (accepted, ignored, or duplicate).
        let outcome = answer.outcome
        let shard = Counters.randomShard()
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                WITH inserted AS (
                    INSERT INTO webhook_events (id, source_id, source_slug, message_id, event_type, status, payload, payload_encrypted,
                        received_at, request_id, response_status, response_body)
                    VALUES (\(id), \(source.id), \(source.slug), \(messageID), \(eventType)::text, \(allowed ? "accepted" : "ignored"),
                        \(sealed.data), \(sealed.encrypted), \(now), \(requestID)::text, \(answer.status), \(answer.body))
                    ON CONFLICT (source_id, message_id) DO NOTHING RETURNING 1
                ), counted AS (
                    INSERT INTO counters (name, labels, shard, value)
                    SELECT 'webhook_received_total', jsonb_build_object('source', \(source.slug)::text, 'outcome',
                        CASE WHEN EXISTS (SELECT 1 FROM inserted) THEN \(outcome)::text ELSE 'duplicate' END), \(shard), 1
                    ON CONFLICT (name, labels, shard) DO UPDATE SET value = counters.value + EXCLUDED.value, updated_at = now()
                )
                SELECT EXISTS (SELECT 1 FROM inserted)
                """,
                logger: logger
            )
            var fresh = false
            for try await value in rows.decode(Bool.self) { fresh = value }
            if fresh { return answer }
            // A duplicate: answer as the first time (read with a fresh snapshot, so a concurrent first is seen).
            let first = try await connection.query(
                "SELECT response_status, response_body FROM webhook_events WHERE source_id = \(source.id) AND message_id = \(messageID)",
                logger: logger
            )
            for try await (status, body) in first.decode((Int, String).self) {
                return Answer(status: status, body: body, outcome: "duplicate")
            }
            return Answer(status: answer.status, body: answer.body, outcome: "duplicate")
        }
    }

    /// The sender's message id: `webhook-id`, `X-Event-ID`, the payload's `id`, else the body's SHA-256.
    static func messageID(headers: Headers, payload: [String: Any]?, body: Data) -> String {
        for candidate in [headers.webhookID, headers.eventID] {
            if let candidate, !candidate.isEmpty, candidate.utf8.count <= 256 { return candidate }
        }
        if let id = payload?["id"] {
            if let text = id as? String, !text.isEmpty, text.utf8.count <= 256 { return text }
            if let number = id as? NSNumber { return number.stringValue }
        }
        return "sha256:" + SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()
    }

    private func count(outcome: String, source: String, logger: Logger) async throws {
        try await database.withTransaction { connection in
            try await Counters.increment("webhook_received_total", labels: ["source": source, "outcome": outcome], on: connection, logger: logger)
        }
    }
}
