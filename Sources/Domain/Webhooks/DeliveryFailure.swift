/// Why a webhook attempt failed, as recorded in `webhook_attempts.error_kind` and `webhook_deliveries.last_error`.
public enum DeliveryFailure: String, Error, Sendable, CaseIterable {
    /// The endpoint answered, but not 2xx.
    case httpStatus = "http_status"
    /// The whole exchange did not end within the attempt's timeout.
    case timeout
    /// No connection (refused, reset, closed early).
    case connect
    /// The TLS handshake or certificate check failed.
    case tls
    /// The host name did not resolve.
    case dns
    /// The URL is not an http(s) URL with a host.
    case invalidURL = "invalid_url"
    /// The URL is `http://` where https is required.
    case insecureURL = "insecure_url"
    /// The host resolved to an address webhooks may not reach (``SSRFGuard``).
    case ssrfBlocked = "ssrf_blocked"
    /// The endpoint's secret cannot be opened with the configured keys.
    case undecryptableSecret = "undecryptable_secret"
    /// The message's payload cannot be opened with the configured keys.
    case undecryptablePayload = "undecryptable_payload"
    /// The endpoint needs a Google-signed ID token and the metadata server did not give one.
    case idToken = "id_token"

    /// False for failures that no retry can fix: the endpoint's URL is refused, or a stored secret or payload cannot
    /// be opened. Such a delivery fails at once instead of going through the schedule.
    public var isRetryable: Bool {
        switch self {
        case .httpStatus, .timeout, .connect, .tls, .dns, .idToken: return true
        case .invalidURL, .insecureURL, .ssrfBlocked, .undecryptableSecret, .undecryptablePayload: return false
        }
    }

    /// True when the endpoint itself is at fault and is disabled with this reason until an operator fixes it.
    public var disablesEndpoint: Bool {
        switch self {
        case .invalidURL, .insecureURL, .ssrfBlocked, .undecryptableSecret: return true
        default: return false
        }
    }
}
