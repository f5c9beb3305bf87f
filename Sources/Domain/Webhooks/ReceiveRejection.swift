/// Why `webhook-receive` refuses a request (nothing is stored for it but a counter and, for a bad signature, an
/// audit row).
public enum ReceiveRejection: Error, Sendable, Equatable {
    /// No enabled source has that slug.
    case unknownSource
    /// The signature is missing, wrong, or its timestamp stale.
    case badSignature(WebhookSignature.Failure)
    /// The body is not JSON.
    case notJSON
    /// The body is a JSON object that names a top-level key twice: which one counts would depend on the reader.
    case duplicateKey
    /// The payload's `type` is empty, longer than 200 bytes, or holds control characters.
    case invalidEventType
    /// The body is over the configured limit.
    case tooLarge(limit: Int)
}
