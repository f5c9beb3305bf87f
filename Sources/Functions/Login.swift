import Domain
import Foundation
import Primitives
import Runtime

/// `login`: `POST /` `{username, password}` → 200 `{"refresh", "access"}`, simplejwt's answers exactly.
struct Login: HTTPFunction {
    let name = "login"
    let auth: AuthService

    /// simplejwt's generic answer for a wrong password, an unknown user and an inactive user alike.
    static let invalidCredentials = DRFResponses.detail(
        "No active account found with the given credentials",
        status: .unauthorized,
        code: "no_active_account",
        headers: [.wwwAuthenticate: DRFResponses.authenticate]
    )

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        guard request.path == "/" else { throw HTTPError.notFound() }
        guard request.method == .post else { throw DRFResponses.methodNotAllowed(request.method) }
        let fields = try DRFResponses.fields(of: request)
        let values = try DRFResponses.requiredStrings(["username", "password"], from: fields)
        let caller = AuthService.Caller(requestID: context.requestID, address: request.clientAddress)
        switch try await auth.login(username: values[0], password: values[1], caller: caller, logger: context.logger) {
        case .success(let tokens):
            return .jsonBody(Data("{\"refresh\":\(JSONText.quoted(tokens.refresh)),\"access\":\(JSONText.quoted(tokens.access))}".utf8))
        case .invalidCredentials:
            throw Self.invalidCredentials
        case .throttled(let retryAfter):
            let unit = retryAfter == 1 ? "second" : "seconds"
            throw DRFResponses.detail(
                "Request was throttled. Expected available in \(retryAfter) \(unit).",
                status: .tooManyRequests,
                code: "throttled",
                headers: [.retryAfter: String(retryAfter)]
            )
        }
    }
}
