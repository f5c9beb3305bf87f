/// An event delivered by Eventarc or a Pub/Sub push whose content can never succeed (malformed, invalid, or
/// missing what the function needs). It is answered 2xx so that the sender stops redelivering it, and recorded
/// and counted as rejected; a plain HTTP caller gets a 400 for the same content instead.
public struct EventRejection: Error, Sendable, Equatable {
    /// A short code: `malformed_event`, `invalid_alert`, `invalid_event`.
    public var reason: String
    /// Field errors, by field (the same messages a plain HTTP caller would get).
    public var fields: [String: [String]]

    /// Creates a value from its fields.
    public init(reason: String, fields: [String: [String]] = [:]) {
        self.reason = reason
        self.fields = fields
    }
}
