import Domain
import Foundation
import Primitives
import Runtime

/// `webhook-dispatch` (private): `POST /events` publishes (JSON `{type, data, idempotency_key?}`, a CloudEvent,
/// or a Pub/Sub push) → 202 `{id, deliveries}`; `POST /drain` delivers what is due (Cloud Scheduler).
struct WebhookDispatch: HTTPFunction {
    let name = "webhook-dispatch"
    let dispatcher: WebhookDispatcher
    let access: PrivateAccess
    let immediateBudget: Duration

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        try access.check(request)
        guard request.path == "/events" || request.path == "/drain" else { throw HTTPError.notFound() }
        guard request.method == .post else { throw HTTPError.methodNotAllowed(request.method, allowed: [.post]) }
        if request.path == "/drain" {
            // Scheduler ticks may carry any body and content type: none is read.
            let report = try await dispatcher.drain(logger: context.logger)
            return try .json(report)
        }
        let event = try Self.event(from: request)
        let published = try await dispatcher.publish(
            type: event.type, data: event.data, idempotencyKey: event.idempotencyKey, requestID: context.requestID, logger: context.logger
        )
        if immediateBudget > .zero, published.deliveries > 0 {
            _ = try? await dispatcher.drain(budget: immediateBudget, logger: context.logger)
        }
        return .jsonBody(Data(published.body.utf8), status: .accepted)
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
                guard let type = message.attributes["type"] else {
                    throw HTTPError.badRequest("Pub/Sub message needs a JSON {type, data} body or a type attribute.", code: "invalid_event")
                }
                let data = RawJSONObject.isValidJSON(message.data) ? message.data : Data("null".utf8)
                return Event(type: type, data: data, idempotencyKey: "pubsub:" + message.messageID)
            }
            guard event.hasJSONData else { throw HTTPError.badRequest("CloudEvent data must be JSON.", code: "invalid_event") }
            return Event(type: event.type, data: event.data ?? Data("null".utf8), idempotencyKey: "cloudevent:" + event.source + "#" + event.id)
        }
        let object: RawJSONObject
        do {
            object = try RawJSONObject(parsing: request.body)
        } catch {
            throw HTTPError.badRequest("Body must be a JSON object {type, data, idempotency_key?}.", code: "invalid_json")
        }
        guard let type = try? object.string("type"), !type.isEmpty else {
            throw HTTPError.badRequest("type is required and must be a string.", code: "invalid_event")
        }
        guard let data = object["data"] else { throw HTTPError.badRequest("data is required.", code: "invalid_event") }
        var key: String?
        do { key = try object.string("idempotency_key") } catch {
            throw HTTPError.badRequest("idempotency_key must be a string.", code: "invalid_event")
        }
        if let key, key.isEmpty || key.utf8.count > 200 {
            throw HTTPError.badRequest("idempotency_key must be 1 to 200 characters.", code: "invalid_event")
        }
        return Event(type: type, data: data, idempotencyKey: key)
    }
}
