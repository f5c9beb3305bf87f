import Domain
import Runtime

/// `refresh`: `POST /` `{refresh}` → 200 `{"access", "refresh"}` (single-use rotation);
/// `POST /revoke` `{refresh}` → 200 `{}` (logs out the whole family); `POST /verify` `{token}` → 200 `{}` or 401
/// (simplejwt's `TokenVerifyView`); `GET /.well-known/jwks.json` when tokens are signed ES256.
struct Refresh: RoutedFunction {
    let name = "refresh"
    let routes: Routes

    init(auth: AuthService) {
        var routes: [Routes.Route] = [
            .post("/") { request, context in
                let (token, caller) = try Self.token(of: request, context: context)
                return Answers.refreshed(try await auth.refresh(token, caller: caller, logger: context.logger))
            },
            .post("/revoke") { request, context in
                let (token, caller) = try Self.token(of: request, context: context)
                try await auth.revoke(token, caller: caller, logger: context.logger)
                return Answers.empty
            },
            .post("/verify") { request, context in
                try await auth.verify(try DRFFields.requiredStrings(["token"], of: request)[0], logger: context.logger)
                return Answers.empty
            },
        ]
        if let jwks = auth.signer.jwks {
            // The public keys other services check tokens with: the signing key and the retired ones still alive.
            routes.append(Routes.Route([.get, .head], .exact("/.well-known/jwks.json")) { _, _ in Answers.jwks(jwks) })
        }
        self.routes = Routes(
            routes,
            methodNotAllowed: Answers.drfMethodNotAllowed,
            maxBodyBytes: auth.settings.maxBodyBytes
        )
    }

    /// The body's `refresh` field (DRF's rules) and who presented it.
    static func token(of request: FunctionRequest, context: FunctionContext) throws -> (String, AuthService.Caller) {
        let token = try DRFFields.requiredStrings(["refresh"], of: request)[0]
        return (token, AuthService.Caller(requestID: context.requestID, address: request.clientAddress))
    }
}
