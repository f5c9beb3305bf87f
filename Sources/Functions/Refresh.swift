import Domain
import Runtime

/// `refresh`: `POST /` `{refresh}` → 200 `{"access", "refresh"}` (single-use rotation);
/// `POST /revoke` `{refresh}` → 200 `{}` (logs out the whole family).
struct Refresh: RoutedFunction {
    let name = "refresh"
    let routes: Routes

    init(auth: AuthService) {
        routes = Routes(
            [
                .post("/") { request, context in
                    let token = try DRFFields.requiredStrings(["refresh"], of: request)[0]
                    let caller = AuthService.Caller(requestID: context.requestID, address: request.clientAddress)
                    return Answers.refreshed(try await auth.refresh(token, caller: caller, logger: context.logger))
                },
                .post("/revoke") { request, context in
                    let token = try DRFFields.requiredStrings(["refresh"], of: request)[0]
                    let caller = AuthService.Caller(requestID: context.requestID, address: request.clientAddress)
                    try await auth.revoke(token, caller: caller, logger: context.logger)
                    return Answers.empty
                },
            ],
            methodNotAllowed: Answers.drfMethodNotAllowed
        )
    }
}
