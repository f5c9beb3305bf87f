import Domain
import Foundation
import Runtime

/// What an event-fed function reads from a CloudEvent (binary or structured) or a Pub/Sub push: the event's type,
/// its data, the Pub/Sub attributes, and the key that identifies a redelivery: the Pub/Sub `messageId`, else the
/// CloudEvent's `source` and `id` (the spec's uniqueness rule). Keys of any length or content are stored through
/// ``IdempotencyKey``.
struct DeliveredEvent {
    var type: String
    var data: Data
    /// The Pub/Sub message's attributes (empty for other events).
    var attributes: [String: String]
    /// True for a Pub/Sub message (its data is the message's bytes).
    var isPubSub: Bool
    /// `pubsub:<messageId>` or `cloudevent:<source>#<id>`.
    var key: String
    /// Whether the CloudEvent's data is JSON (always true for Pub/Sub, whose data is judged by its reader).
    var hasJSONData: Bool

    /// True when `request` is to be read as an event (and so is answered as events are): always under
    /// `FUNCTION_SIGNATURE_TYPE=cloudevent` (a request that is not one is a malformed event), never under `http`,
    /// else when it carries one.
    static func isEvent(_ request: FunctionRequest, _ context: FunctionContext) -> Bool {
        switch context.signatureType {
        case .cloudevent: true
        case .http: false
        case nil: CloudEvent.isCloudEvent(request) || PubSubMessage.isPushEnvelope(request)
        }
    }

    /// Reads the event; a malformed one is an ``EventRejection`` (`malformed_event`).
    init(_ request: FunctionRequest) throws(EventRejection) {
        do {
            let event = try CloudEvent(anyEventRequest: request)
            if event.type == PubSubMessage.messagePublishedType {
                let message = try PubSubMessage(event: event)
                self.init(
                    type: event.type, data: message.data, attributes: message.attributes, isPubSub: true, key: "pubsub:" + message.messageID,
                    hasJSONData: true
                )
            } else {
                self.init(
                    type: event.type, data: event.data ?? Data("null".utf8), attributes: [:], isPubSub: false,
                    key: "cloudevent:" + event.source + "#" + event.id, hasJSONData: event.hasJSONData
                )
            }
        } catch {
            throw EventRejection(reason: "malformed_event", fields: ["event": ["\(error)"]])
        }
    }

    private init(type: String, data: Data, attributes: [String: String], isPubSub: Bool, key: String, hasJSONData: Bool) {
        self.type = type
        self.data = data
        self.attributes = attributes
        self.isPubSub = isPubSub
        self.key = key
        self.hasJSONData = hasJSONData
    }
}
