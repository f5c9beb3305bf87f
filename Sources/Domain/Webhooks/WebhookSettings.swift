/// The knobs of webhook dispatch, with the defaults the issue and the original system name.
public struct WebhookSettings: Sendable {
    /// The retry schedule (`WEBHOOK_RETRY_SCHEDULE`).
    public var schedule = RetrySchedule()
    /// Per-attempt timeout (30 s, the original's).
    public var timeout: Duration = .seconds(30)
    /// How long a claim lasts before another drain may take the delivery over (`timeout` × 2).
    public var lease: Duration = .seconds(60)
    /// A drain's time budget (`WEBHOOK_DRAIN_BUDGET_SECONDS`, 50 s: Cloud Scheduler calls every minute).
    public var drainBudget: Duration = .seconds(50)
    /// Deliveries claimed per short claiming transaction.
    public var claimBatch = 200
    /// Requests in flight per drain.
    public var concurrency = 64
    /// Requests in flight per endpoint per drain, so one slow endpoint cannot take every slot.
    public var perEndpointConcurrency = 16
    /// An endpoint that has only failed for this long is disabled (5 days).
    public var disableAfter: Double = 5 * 24 * 3600
    /// Allow loopback and private targets (local runner and tests only).
    public var allowPrivateTargets = false
    /// Require https endpoint URLs (production).
    public var requireHTTPS = true
    /// Budget for first attempts made at once by `POST /events` (0 disables).
    public var immediateBudget: Duration = .zero
    /// Largest event body accepted by `webhook-receive` (1 MiB).
    public var maxReceiveBytes = 1024 * 1024

    /// The defaults.
    public init() {}
}
