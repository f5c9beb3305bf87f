import Primitives
import Runtime

/// Guards a private function with a shared bearer token where Cloud Run IAM is not in front.
struct PrivateAccess: Sendable {
    /// The request carries no valid bearer token.
    struct Denied: Error, Sendable, Equatable {}

    /// The expected token; nil means IAM guards the service and every request that reaches it is allowed.
    let token: String?

    /// Throws ``Denied`` unless the request carries `Authorization: Bearer <token>` (compared in constant time).
    func check(_ request: FunctionRequest) throws(Denied) {
        guard let token else { return }
        let presented = request.headers[.authorization] ?? ""
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`.
        let prefix = "bearer "
        guard presented.utf8.count > prefix.utf8.count, presented.prefix(prefix.count).lowercased() == prefix,
            ConstantTime.equals(String(presented.dropFirst(prefix.count)), token)
        else {
            throw Denied()
        }
    }
}
