import Foundation
import Primitives

/// A Pub/Sub message as Eventarc (`messagePublished`) or a push subscription delivers it.
public struct PubSubMessage: Sendable, Equatable {
    /// The CloudEvent type of a published message.
    public static let messagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished"

    /// The decoded `message.data` bytes.
    public var data: Data
    /// `message.attributes`.
    public var attributes: [String: String]
    /// `message.messageId`.
    public var messageID: String
    /// `message.publishTime`, exactly as sent.
    public var publishTime: String?
    /// The subscription that delivered it.
    public var subscription: String?

    /// Creates a message.
    public init(data: Data, attributes: [String: String] = [:], messageID: String, publishTime: String? = nil, subscription: String? = nil) {
        self.data = data
        self.attributes = attributes
        self.messageID = messageID
        self.publishTime = publishTime
        self.subscription = subscription
    }

    /// Reads the push envelope `{"message": {...}, "subscription": "..."}`.
    public init(envelope: Data) throws(CloudEventError) {
        let decoded: Envelope
        do {
            decoded = try JSONDecoder().decode(Envelope.self, from: envelope)
        } catch {
            throw .malformed("not a Pub/Sub push envelope")
        }
        let message = decoded.message
        guard let messageID = message.messageId ?? message.message_id, !messageID.isEmpty else {
            throw .malformed("Pub/Sub message has no messageId")
        }
        var bytes = Data()
        if let encoded = message.data {
            guard let data = Data(base64Encoded: encoded) else { throw .malformed("Pub/Sub message data is not base64") }
            bytes = data
        }
        self.init(
            data: bytes,
            attributes: message.attributes ?? [:],
            messageID: messageID,
            publishTime: message.publishTime ?? message.publish_time,
            subscription: decoded.subscription
        )
    }

    /// Reads the message carried by a `messagePublished` CloudEvent.
    public init(event: CloudEvent) throws(CloudEventError) {
        guard event.type == Self.messagePublishedType else { throw .malformed("not a Pub/Sub messagePublished event") }
        guard let data = event.data else { throw .malformed("Pub/Sub event has no data") }
        try self.init(envelope: data)
    }

    /// True when a plain JSON body looks like a push envelope (has `message` and `subscription`).
    private static let subscriptionKey = Data("\"subscription\"".utf8)

    public static func isPushEnvelope(_ request: FunctionRequest) -> Bool {
        guard request.mediaType == "application/json" || request.mediaType == nil,
            // Every push envelope names its subscription: most bodies are ruled out without parsing them.
            request.body.range(of: Self.subscriptionKey) != nil,
            let object = try? RawJSONObject(parsing: request.body)
        else { return false }
        return object["message"]?.first == UInt8(ascii: "{") && object["subscription"] != nil
    }

    private struct Envelope: Decodable {
        struct Message: Decodable {
            var data: String?
            var attributes: [String: String]?
            var messageId: String?
            var message_id: String?
            var publishTime: String?
            var publish_time: String?
        }
        var message: Message
        var subscription: String?
    }
}

extension CloudEvent {
    /// The CloudEvent the Functions Framework makes of a raw Pub/Sub push: type `messagePublished`, the
    /// envelope as `data`, id and time from the message.
    public init(pubSubPush request: FunctionRequest) throws(CloudEventError) {
        let message = try PubSubMessage(envelope: request.body)
        let topicSource = message.subscription.map { "//pubsub.googleapis.com/\($0)" } ?? "//pubsub.googleapis.com/"
        self.init(
            id: message.messageID,
            source: topicSource,
            type: PubSubMessage.messagePublishedType,
            time: message.publishTime,
            dataContentType: "application/json",
            data: request.body
        )
    }

    /// Any event-shaped request: binary or structured CloudEvent, or a raw Pub/Sub push envelope.
    public init(anyEventRequest request: FunctionRequest) throws(CloudEventError) {
        if CloudEvent.isCloudEvent(request) {
            try self.init(request: request)
        } else if PubSubMessage.isPushEnvelope(request) {
            try self.init(pubSubPush: request)
        } else {
            try self.init(request: request)
        }
    }
}
