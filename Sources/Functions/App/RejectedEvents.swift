import Domain
import Foundation
import Logging
import Primitives
import Runtime
import Store

/// Records events that can never succeed (``EventRejection``): counted in `events_rejected_total{function, reason}`
/// and one `event_rejected` audit row naming the function, the reason, the fields at fault and the event key's
/// SHA-256, never a value from the event (it may carry health data). Answered 200, so Pub/Sub and Eventarc stop
/// redelivering; if the record cannot be written the error is thrown (a 503), and the redelivery tries again.
struct RejectedEvents: Sendable {
    let database: Database

    func record(_ rejection: EventRejection, function: String, key: String?, requestID: String?, logger: Logger) async throws -> FunctionResponse {
        let fields = rejection.fields.keys.sorted()
        var detail = ["function": function, "reason": rejection.reason, "fields": fields.joined(separator: ",")]
        if let key { detail["event_key_sha256"] = IdempotencyKey.digest(key) }
        let event = AuditEvent(action: "event_rejected", outcome: "rejected", requestID: requestID, detail: detail)
        try await database.withTransaction { connection in
            try await Counters.increment(
                "events_rejected_total", labels: ["function": function, "reason": rejection.reason], on: connection, logger: logger
            )
            try await AuditLog.record(event, at: Date(), on: connection, logger: logger)
        }
        logger.notice("event rejected", metadata: ["reason": "\(rejection.reason)", "fields": "\(fields.joined(separator: ","))"])
        return try Answers.rejected(rejection)
    }
}
