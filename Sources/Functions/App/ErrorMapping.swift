import Domain
import Runtime

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
        default:
            return nil
        }
    }
}
