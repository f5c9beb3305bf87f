/// Why `webhook-receive` refuses a request (nothing is stored for it but a counter and, for a bad signature, an
/// audit row).
public enum ReceiveRejection: Error, Sendable, Equatable {
    /// No enabled source has that slug.
    case unknownSource
    /// The signature is missing, wrong, or its timestamp stale.
    case badSignature(WebhookSignature.Failure)
    /// The body is not JSON.
    case notJSON
    /// The body is over the configured limit.
    case tooLarge(limit: Int)
}
