import Domain
import Runtime
import Store

/// The one place where domain errors become HTTP answers (the runtime maps its own and falls back to 500).
enum ErrorMapping {
    /// The answer for a domain error, or nil for an unexpected one (a 500 with the detail in the log).
    @Sendable static func map(_ error: any Error) -> HTTPError? {
        switch error {
        case StoreError.unavailable:
            return .unavailable("The database is unavailable; try again shortly.", retryAfter: 5)
        case let error as TokenError:
            return HTTPError(
                .unauthorized, code: "token_not_valid", detail: error.detail, headers: [.wwwAuthenticate: DRFResponses.authenticate]
            )
        case AuthError.noActiveAccount:
            return HTTPError(
                .unauthorized, code: "no_active_account", detail: "No active account found for the given token.",
                headers: [.wwwAuthenticate: DRFResponses.authenticate]
            )
        case WebhookReceiver.Rejection.unknownSource:
            return .notFound("Unknown webhook source.")
        case WebhookReceiver.Rejection.badSignature(let failure):
            let detail: String
            switch failure {
            case .missingHeaders: detail = "Missing or malformed signature headers."
            case .staleTimestamp: detail = "The webhook timestamp is too far from now."
            case .mismatch: detail = "The signature does not match."
            }
            return HTTPError(.unauthorized, code: "invalid_signature", detail: detail)
        case WebhookReceiver.Rejection.notJSON:
            return .badRequest("The body is not JSON.", code: "invalid_json")
        case WebhookDispatcher.Rejection.invalidType:
            return .badRequest("type must be a dotted event name such as user.created.", code: "invalid_event")
        case WebhookDispatcher.Rejection.missingData:
            return .badRequest("data is required.", code: "invalid_event")
        default:
            return nil
        }
    }
}
