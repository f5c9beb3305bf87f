import Domain
import Foundation
import Primitives
import Runtime

/// `webhook-dispatch` (private): `POST /events` publishes (JSON `{type, data, idempotency_key?}`, a CloudEvent,
/// or a Pub/Sub push) → 202 `{id, deliveries}`; `POST /drain` delivers what is due (Cloud Scheduler).
///
/// An event is published once per Pub/Sub `messageId` (else CloudEvent `source` and `id`): a redelivery gets the
/// first answer. An event that can never be published is answered 200 and recorded as rejected
/// (``RejectedEvents``); a plain JSON caller gets 400.
struct WebhookDispatch: RoutedFunction {
    let name = "webhook-dispatch"
    /// Plain JSON, or an event (CloudEvent, Pub/Sub push): `FUNCTION_SIGNATURE_TYPE` may fix which.
    let signatures: Set<SignatureType> = [.http, .cloudevent]
    let routes: Routes

    init(dispatcher: WebhookDispatcher, rejections: RejectedEvents, access: PrivateAccess) {
        let name = self.name
        routes = Routes([
            .post("/events", maxBodyBytes: dispatcher.settings.maxPublishBytes) { request, context in
                func publish(_ event: Event) async throws -> FunctionResponse {
                    try Answers.published(
                        try await dispatcher.publish(
                            type: event.type, data: event.data, idempotencyKey: event.idempotencyKey, requestID: context.requestID,
                            logger: context.logger
                        )
                    )
                }
                guard DeliveredEvent.isEvent(request, context) else { return try await publish(try Self.event(fromJSON: request.body)) }
                var key: String?
                do {
                    let delivered = try DeliveredEvent(request)
                    key = delivered.key
                    do {
                        return try await publish(try Self.event(from: delivered))
                    } catch let rejection as PublishRejection {
                        throw EventRejection(
                            reason: rejection == .duplicateKey ? "duplicate_key" : "invalid_event", fields: ["event": [Answers.publishRejected(rejection)]]
                        )
                    }
                } catch let rejection as EventRejection {
                    return try await rejections.record(rejection, function: name, key: key, requestID: context.requestID, logger: context.logger)
                }
            },
            .post("/drain") { request, context in
                // Scheduler ticks may carry any body and content type: none is read.
                return try Answers.drained(try await dispatcher.drain(logger: context.logger))
            },
        ], guard: { try access.check($0) }, maxBodyBytes: Routes.unroutedBodyBytes)
    }

    struct Event {
        var type: String
        var data: Data
        var idempotencyKey: String?
    }

    /// A CloudEvent's type and JSON data, or a Pub/Sub message's JSON `{type, data}` (else its `type` attribute and
    /// its data when JSON); the event's key is the idempotency key.
    static func event(from delivered: DeliveredEvent) throws(PublishRejection) -> Event {
        if delivered.isPubSub {
            switch Result(catching: { () throws(JSONSyntaxError) in try RawJSONObject(parsing: delivered.data) }) {
            case .failure(let error) where error.isDuplicateKey:
                throw .duplicateKey
            case .success(let object):
                if let type = try? object.string("type"), let data = object["data"] {
                    try requireUniqueKeys(data)
                    return Event(type: type, data: data, idempotencyKey: delivered.key)
                }
            case .failure:
                break
            }
            guard let type = delivered.attributes["type"] else { throw .pubSubMessageWithoutType }
            let data = RawJSONObject.isValidJSON(delivered.data) ? delivered.data : Data("null".utf8)
            return Event(type: type, data: data, idempotencyKey: delivered.key)
        }
        guard delivered.hasJSONData else { throw .cloudEventDataNotJSON }
        try requireUniqueKeys(delivered.data)
        return Event(type: delivered.type, data: delivered.data, idempotencyKey: delivered.key)
    }

    /// Refuses `data` when it is an object that names a top-level key twice: each subscriber's parser would pick
    /// its own winner.
    static func requireUniqueKeys(_ data: Data) throws(PublishRejection) {
        if RawJSONObject.hasDuplicateKeys(data) { throw .duplicateKey }
    }

    /// Reads `{type, data, idempotency_key?}`; the key is 1 to 200 characters without control characters.
    static func event(fromJSON body: Data) throws(PublishRejection) -> Event {
        let object: RawJSONObject
        do {
            object = try RawJSONObject(parsing: body)
        } catch {
            throw error.isDuplicateKey ? .duplicateKey : .notJSONObject
        }
        guard let type = try? object.string("type"), !type.isEmpty else { throw .missingType }
        guard let data = object["data"] else { throw .missingData }
        let key: String?
        do { key = try object.string("idempotency_key") } catch { throw .invalidIdempotencyKey }
        if let key, key.isEmpty || key.utf8.count > 200 || IdempotencyKey.hasControlCharacters(key) { throw .invalidIdempotencyKey }
        try requireUniqueKeys(data)
        return Event(type: type, data: data, idempotencyKey: key)
    }
}
