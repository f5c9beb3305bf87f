import Foundation

/// How alerts leave: the email backend and its credentials, Slack, the PDF, and the retry policy.
public struct AlertSettings: Sendable {
    /// `EMAIL_BACKEND`.
    public enum EmailBackend: String, Sendable, Equatable {
        /// One JSON line on stdout (development; the default).
        case console
        /// Mailgun's messages API.
        case mailgun
        /// SendGrid's v3 mail send API.
        case sendgrid

        /// Accepts the original's Django spellings too (`anymail.backends.mailgun.EmailBackend`).
        public init?(setting: String) {
            let lowered = setting.lowercased()
            if lowered.contains("mailgun") {
                self = .mailgun
            } else if lowered.contains("sendgrid") {
                self = .sendgrid
            } else if lowered.contains("console") {
                self = .console
            } else {
                return nil
            }
        }
    }

    /// The email backend.
    public var backend: EmailBackend = .console
    /// Largest alert body `send-alert` reads (512 KiB: a 50,000-character message in a base64 Pub/Sub envelope).
    public var maxBodyBytes = 512 * 1024
    /// `DEFAULT_FROM_EMAIL`.
    public var from = "alerts@localhost"
    /// `ALERT_RECIPIENTS`: used when an alert names none.
    public var defaultRecipients: [String] = []
    /// `PORTAL_BASE_URL`: every email links to the alert there.
    public var portalBaseURL = "http://localhost:8080"
    /// `MAILGUN_API_KEY`, `MAILGUN_DOMAIN`, `MAILGUN_BASE_URL` (EU: https://api.eu.mailgun.net).
    public var mailgunAPIKey: String?
    /// See ``mailgunAPIKey``.
    public var mailgunDomain: String?
    /// See ``mailgunAPIKey``.
    public var mailgunBaseURL = "https://api.mailgun.net"
    /// `SENDGRID_API_KEY`, `SENDGRID_BASE_URL`.
    public var sendgridAPIKey: String?
    /// See ``sendgridAPIKey``.
    public var sendgridBaseURL = "https://api.sendgrid.com"
    /// `SLACK_ENABLED` and `SLACK_WEBHOOK_URL`.
    public var slackWebhookURL: String?
    /// `ALERT_ATTACH_PDF`.
    public var attachPDF = false
    /// Delays before each attempt (`ALERT_RETRY_SCHEDULE`): at once, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h.
    public var schedule = RetrySchedule(delays: [0, 30, 120, 600, 1800, 3600, 10_800])
    /// Per-request timeout.
    public var timeout: Duration = .seconds(20)
    /// Budget for the first attempts `send-alert` makes before it answers (`ALERT_FIRST_ATTEMPT_BUDGET_MS`, 5 s:
    /// inside Pub/Sub's 10 s acknowledgement deadline; 0 leaves every attempt to the drain).
    public var firstAttemptBudget: Duration = .seconds(5)
    /// Claim lease for drains.
    public var lease: Duration = .seconds(60)
    /// A drain's time budget.
    public var drainBudget: Duration = .seconds(50)

    /// The defaults.
    public init() {}
}
