import Domain
import Foundation
import Primitives
import Runtime

/// `webhook-dispatch` (private): `POST /events` publishes (JSON `{type, data, idempotency_key?}`, a CloudEvent,
/// or a Pub/Sub push) → 202 `{id, deliveries}`; `POST /drain` delivers what is due (Cloud Scheduler).
struct WebhookDispatch: RoutedFunction {
    let name = "webhook-dispatch"
    let routes: Routes

    init(dispatcher: WebhookDispatcher, access: PrivateAccess) {
        routes = Routes([
            .post("/events") { request, context in
                let event = try Self.event(from: request)
                let published = try await dispatcher.publish(
                    type: event.type, data: event.data, idempotencyKey: event.idempotencyKey, requestID: context.requestID,
                    logger: context.logger
                )
                return try Answers.published(published)
            },
            .post("/drain") { request, context in
                // Scheduler ticks may carry any body and content type: none is read.
                return try Answers.drained(try await dispatcher.drain(logger: context.logger))
            },
        ], guard: { try access.check($0) })
    }

    struct Event {
        var type: String
        var data: Data
        var idempotencyKey: String?
    }

    /// Reads `{type, data, idempotency_key?}`, a CloudEvent (type, data; its id is the idempotency key), or a
    /// Pub/Sub push (the message's JSON data, or attributes `type`; the message id is the idempotency key).
    static func event(from request: FunctionRequest) throws -> Event {
        if CloudEvent.isCloudEvent(request) || PubSubMessage.isPushEnvelope(request) {
            let event = try CloudEvent(anyEventRequest: request)
            if event.type == PubSubMessage.messagePublishedType {
                let message = try PubSubMessage(event: event)
                if let object = try? RawJSONObject(parsing: message.data), let type = try? object.string("type"), let data = object["data"] {
                    return Event(type: type, data: data, idempotencyKey: "pubsub:" + message.messageID)
                }
                guard let type = message.attributes["type"] else { throw PublishRejection.pubSubMessageWithoutType }
                let data = RawJSONObject.isValidJSON(message.data) ? message.data : Data("null".utf8)
                return Event(type: type, data: data, idempotencyKey: "pubsub:" + message.messageID)
            }
            guard event.hasJSONData else { throw PublishRejection.cloudEventDataNotJSON }
            return Event(type: event.type, data: event.data ?? Data("null".utf8), idempotencyKey: "cloudevent:" + event.source + "#" + event.id)
        }
        guard let object = try? RawJSONObject(parsing: request.body) else { throw PublishRejection.notJSONObject }
        guard let type = try? object.string("type"), !type.isEmpty else { throw PublishRejection.missingType }
        guard let data = object["data"] else { throw PublishRejection.missingData }
        let key: String?
        do { key = try object.string("idempotency_key") } catch { throw PublishRejection.invalidIdempotencyKey }
        if let key, key.isEmpty || key.utf8.count > 200 { throw PublishRejection.invalidIdempotencyKey }
        return Event(type: type, data: data, idempotencyKey: key)
    }
}
