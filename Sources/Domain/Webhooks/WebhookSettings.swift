/// The knobs of webhook dispatch, with the defaults the issue and the original system name.
public struct WebhookSettings: Sendable {
    /// The retry schedule (`WEBHOOK_RETRY_SCHEDULE`).
    public var schedule = RetrySchedule()
    /// Per-attempt timeout (30 s, the original's).
    public var timeout: Duration = .seconds(30)
    /// How long a claim lasts before another drain may take the delivery over (`timeout` × 2 + 5 s: two rounds of
    /// attempts per endpoint slot, and time to record them).
    public var lease: Duration = .seconds(65)
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
    /// Budget for the first attempts `POST /events` makes before it answers (`WEBHOOK_FIRST_ATTEMPT_BUDGET_MS`, 2 s:
    /// well inside Pub/Sub's 10 s acknowledgement deadline; 0 leaves every attempt to the drain).
    public var immediateBudget: Duration = .seconds(2)
    /// Largest event body accepted by `webhook-receive` (1 MiB).
    public var maxReceiveBytes = 1024 * 1024
    /// Largest `POST /events` body `webhook-dispatch` reads (2 MiB: a 1 MiB event inside a base64 Pub/Sub envelope).
    public var maxPublishBytes = 2 * 1024 * 1024
    /// Where Google-signed ID tokens for private consumers come from: the metadata server at this `host[:port]`
    /// (`GCE_METADATA_HOST`, else `metadata.google.internal`), or nil where there is none (`functions local`): such
    /// endpoints are then called without a token.
    public var metadataHost: String? = "metadata.google.internal"

    /// The defaults.
    public init() {}

    /// How many attempts of `timeout` one endpoint slot can make one after another inside a lease, keeping two
    /// seconds for claiming and recording (at least one, at most `limit`): a claim takes at most this many rounds of
    /// ``perEndpointConcurrency``.
    public func rounds(timeout: Duration, limit: Int = .max) -> Int {
        guard timeout > .zero else { return 1 }
        return max(1, Int(min(((lease - .seconds(2)) / timeout).rounded(.down), Double(limit))))
    }
}
