import Domain
import Foundation
import Primitives
import Runtime

/// `refresh`: `POST /` `{refresh}` → 200 `{"access", "refresh"}` (single-use rotation);
/// `POST /revoke` `{refresh}` → 200 `{}` (logs out the whole family).
struct Refresh: HTTPFunction {
    let name = "refresh"
    let auth: AuthService

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        guard request.path == "/" || request.path == "/revoke" else { throw HTTPError.notFound() }
        guard request.method == .post else { throw DRFResponses.methodNotAllowed(request.method) }
        let fields = try DRFResponses.fields(of: request)
        let token = try DRFResponses.requiredStrings(["refresh"], from: fields)[0]
        let caller = AuthService.Caller(requestID: context.requestID, address: request.clientAddress)
        if request.path == "/revoke" {
            try await auth.revoke(token, caller: caller, logger: context.logger)
            return .jsonBody(Data("{}".utf8))
        }
        let tokens = try await auth.refresh(token, caller: caller, logger: context.logger)
        return .jsonBody(Data("{\"access\":\(JSONText.quoted(tokens.access)),\"refresh\":\(JSONText.quoted(tokens.refresh))}".utf8))
    }
}
