import Foundation
import Primitives

/// An accepted incoming event as its source's consumers receive it: an outgoing message of type
/// `<source>.<event type>` (the source alone for an untyped event) whose payload is the envelope every outgoing
/// webhook has, `{type, timestamp, data, metadata}`, with the received body as `data` byte for byte, and in
/// `metadata` where it came from: the request, the source, the stored event's id, its type and the sender's
/// message id.
struct ForwardedEvent: Sendable {
    var source: String
    var eventID: UUID
    var eventType: String?
    var messageID: String
    var requestID: String?
    var now: Date
    /// The id of the outgoing message, when one is made.
    let messageRowID = UUID.random()

    /// `<source>.<event type>`, or the source alone.
    var type: String { eventType.map { source + "." + $0 } ?? source }

    /// The payload consumers receive around `body`.
    func envelope(_ body: Data) -> Data {
        var payload = Data("{\"type\":\(JSONText.quoted(type)),\"timestamp\":\"\(Timestamp.milliseconds(now))\",\"data\":".utf8)
        payload.append(body)
        payload.append(
            Data(
                (",\"metadata\":{\"request_id\":\(requestID.map(JSONText.quoted) ?? "null"),\"source\":\(JSONText.quoted(source)),"
                    + "\"event_id\":\"\(eventID.uuidString.lowercased())\",\"event_type\":\(eventType.map(JSONText.quoted) ?? "null"),"
                    + "\"message_id\":\(JSONText.quoted(messageID))}}").utf8
            )
        )
        return payload
    }
}
