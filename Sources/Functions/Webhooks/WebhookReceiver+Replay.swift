import Domain
import Foundation
public import Logging
import PostgresNIO
import Primitives
import Store

extension WebhookReceiver {
    /// What a replay did.
    public struct Replayed: Sendable, Equatable {
        /// Events looked at (accepted ones; ignored events have no consumers).
        public var events = 0
        /// Existing deliveries queued again (attempts keep their numbering).
        public var requeued = 0
        /// Deliveries made for consumers that had none for the event (added since it arrived).
        public var created = 0
    }

    /// Hands accepted events to their consumers again: every delivery of the event's message is queued again, due
    /// now (only the failed ones with `failedOnly`), and each consumer that now takes the event but had no delivery
    /// for it gets one (the message is made if the event had none). One short transaction per event.
    public func replay(_ ids: [UUID], failedOnly: Bool, logger: Logger) async throws -> Replayed {
        var replayed = Replayed()
        let now = clock.now()
        let encryption = self.encryption
        for id in ids {
            let counts: (Int, Int)? = try await database.withTransaction { connection in
                let rows = try await connection.query(
                    """
                    SELECT e.source_id, e.source_slug, e.event_type, e.message_id, e.payload, e.payload_encrypted, e.request_id, m.id
                    FROM webhook_events e LEFT JOIN webhook_messages m ON m.source_event_id = e.id
                    WHERE e.id = \(id) AND e.status = 'accepted' AND e.purged_at IS NULL FOR UPDATE OF e
                    """,
                    logger: logger
                )
                var found: (Int64, String, String?, String, Data, Bool, String?, UUID?)?
                for try await row in rows.decode((Int64, String, String?, String, Data, Bool, String?, UUID?).self) { found = row }
                guard let (sourceID, slug, type, senderID, payload, encrypted, requestID, existing) = found else { return nil }
                let consumers = try await WebhookEndpointStore(encryption: encryption).consumers(of: sourceID, type: type, on: connection, logger: logger)
                var messageID = existing
                if messageID == nil, !consumers.isEmpty {
                    let forward = ForwardedEvent(source: slug, eventID: id, eventType: type, messageID: senderID, requestID: requestID, now: now)
                    let envelope = try encryption.sealPayload(forward.envelope(try encryption.openPayload(payload, encrypted: encrypted)))
                    let response = "{\"id\":\"\(forward.messageRowID.uuidString.lowercased())\",\"deliveries\":\(consumers.count)}"
                    try await connection.query(
                        """
                        INSERT INTO webhook_messages (id, event_type, payload, payload_encrypted, response, request_id, created_at, source_event_id)
                        VALUES (\(forward.messageRowID), \(forward.type), \(envelope.data), \(envelope.encrypted), \(response), \(requestID), \(now), \(id))
                        """,
                        logger: logger
                    )
                    messageID = forward.messageRowID
                }
                guard let messageID else { return (0, 0) }
                var requeued = 0
                for try await _ in try await connection.query(
                    """
                    UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = \(now), finished_at = NULL, claim_token = NULL, claimed_until = NULL
                    WHERE message_id = \(messageID) AND status <> 'pending' AND (NOT \(failedOnly) OR status = 'failed') RETURNING 1
                    """,
                    logger: logger
                ) { requeued += 1 }
                var created = 0
                for try await _ in try await connection.query(
                    """
                    INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at)
                    SELECT gen_random_uuid(), \(messageID), consumer, 'pending', \(now), \(now) FROM unnest(\(consumers)::uuid[]) AS c (consumer)
                    WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = \(messageID) AND d.endpoint_id = c.consumer)
                    RETURNING 1
                    """,
                    logger: logger
                ) { created += 1 }
                if created > 0 {
                    try await Counters.increment("webhook_deliveries_created_total", by: Int64(created), on: connection, logger: logger)
                }
                return (requeued, created)
            }
            guard let (requeued, created) = counts else { continue }
            replayed.events += 1
            replayed.requeued += requeued
            replayed.created += created
        }
        return replayed
    }
}
