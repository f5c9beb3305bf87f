/// Why an event cannot be published to the outgoing webhooks.
public enum PublishRejection: Error, Sendable, Equatable {
    /// The body is not a JSON object.
    case notJSONObject
    /// `type` is missing or not a string.
    case missingType
    /// `type` is not a dotted event name (or is a filter such as `a.*`).
    case invalidType
    /// `data` is missing.
    case missingData
    /// `idempotency_key` is not a string of 1 to 200 characters.
    case invalidIdempotencyKey
    /// A CloudEvent whose data is not JSON.
    case cloudEventDataNotJSON
    /// A Pub/Sub message with neither a JSON `{type, data}` body nor a `type` attribute.
    case pubSubMessageWithoutType
    /// The body, or its `data` object, names a top-level key twice.
    case duplicateKey
}
