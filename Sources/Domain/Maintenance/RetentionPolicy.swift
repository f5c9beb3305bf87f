import Foundation

/// How long each kind of record is kept (`RETENTION_*_DAYS`), as the replaced system kept them: audit records
/// for seven years (HIPAA asks six), everything else for weeks. A record still pending, or still needed to refuse
/// a replay, is kept whatever its age.
public struct RetentionPolicy: Sendable, Equatable {
    /// `audit_events`, counted from the event (a counted row: from its minute).
    public var audit: TimeInterval = 2557 * 86_400
    /// Received events, published messages, their deliveries and attempts, counted from when the last delivery
    /// finished.
    public var webhooks: TimeInterval = 30 * 86_400
    /// Alerts, their sends and attempts, counted from when the last send finished.
    public var alerts: TimeInterval = 90 * 86_400

    /// The defaults.
    public init() {}
}
