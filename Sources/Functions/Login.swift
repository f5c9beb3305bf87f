import Domain
import Runtime

/// `login`: `POST /` `{username, password}` → 200 `{"refresh", "access"}`, simplejwt's answers exactly.
struct Login: RoutedFunction {
    let name = "login"
    let routes: Routes

    init(auth: AuthService) {
        routes = Routes(
            [.post("/") { request, context in try await Self.login(request, context: context, auth: auth) }],
            methodNotAllowed: Answers.drfMethodNotAllowed,
            maxBodyBytes: auth.settings.maxBodyBytes
        )
    }

    static func login(_ request: FunctionRequest, context: FunctionContext, auth: AuthService) async throws -> FunctionResponse {
        let values = try DRFFields.requiredStrings(["username", "password"], of: request)
        let caller = AuthService.Caller(requestID: context.requestID, address: request.clientAddress)
        switch try await auth.login(username: values[0], password: values[1], caller: caller, logger: context.logger) {
        case .success(let tokens): return Answers.loggedIn(tokens)
        case .invalidCredentials: throw LoginRefusal.invalidCredentials
        case .throttled(let retryAfter): throw LoginRefusal.throttled(retryAfter: retryAfter)
        }
    }
}
