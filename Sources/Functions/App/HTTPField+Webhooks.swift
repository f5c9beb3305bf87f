import Runtime

extension HTTPField.Name {
    /// Standard Webhooks' message id (the idempotency key).
    static let webhookID = HTTPField.Name("webhook-id")!
    /// Standard Webhooks' attempt timestamp (Unix seconds).
    static let webhookTimestamp = HTTPField.Name("webhook-timestamp")!
    /// Standard Webhooks' `v1,<base64>` signatures.
    static let webhookSignature = HTTPField.Name("webhook-signature")!
    /// The original system's hex HMAC-SHA256 of the body.
    static let xSignature = HTTPField.Name("X-Signature")!
    /// GitHub's `sha256=<hex>` signature.
    static let xHubSignature256 = HTTPField.Name("X-Hub-Signature-256")!
    /// A partner's event type (unsigned).
    static let xEventType = HTTPField.Name("X-Event-Type")!
    /// A partner's event id (unsigned).
    static let xEventID = HTTPField.Name("X-Event-ID")!
}
