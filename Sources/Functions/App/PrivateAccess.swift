import Domain
import Primitives
import Runtime

/// Guards a private function with a shared bearer token where Cloud Run IAM is not in front.
struct PrivateAccess: Sendable {
    /// The expected token; nil means IAM guards the service and every request that reaches it is allowed.
    let token: String?

    /// Throws a 401 unless the request carries `Authorization: Bearer <token>` (compared in constant time).
    func check(_ request: FunctionRequest) throws {
        guard let token else { return }
        let presented = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard presented.hasPrefix(prefix), ConstantTime.equals(String(presented.dropFirst(prefix.count)), token) else {
            throw HTTPError(
                .unauthorized,
                code: "not_authenticated",
                detail: "Authentication credentials were not provided or are invalid.",
                headers: [.wwwAuthenticate: "Bearer realm=\"api\""]
            )
        }
    }
}
