import Crypto
import Domain
import Foundation
import Primitives

/// The key the JWT fixtures below were minted with (by joserfc 1.6.5, a standard JWT library).
public let testSecretKey = "test-secret-key-for-the-swift-functions-test-suite-0123456789"

public enum JWTFixtures {
    /// simplejwt ≤ 5.4 shape (`user_id` an integer), exp in 2100.
    public static let integerUserID =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsInVzZXJfaWQiOjd9.HrgLbZCdKFTIRGslqpkdQt7u9NxXHEVi9iz0R1LVTPQ"
    /// simplejwt 5.5.1+ shape (`user_id` a string).
    public static let stringUserID =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJmZWRjYmE5ODc2NTQzMjEwZmVkY2JhOTg3NjU0MzIxMCIsInVzZXJfaWQiOiI3In0.i2tkGgptvsG2bngLz9OTPC17m5ObM0woPLEbb5AKxjc"
    /// The same claims signed with HS512.
    public static let hs512 =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJhYWFhIiwidXNlcl9pZCI6N30.J1ydlG3WMKEhBVZlknimc1OY5MiOUgsyliZ9y8RkxJalnX8RSVLaqo6BYL_fRS79Tab2l6VCS1E76M_h41UopA"
    /// `alg: none` with the integer claims and no signature.
    public static let algNone =
        Base64URL.encode(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "."
        + integerUserID.split(separator: ".")[1] + "."
}


extension JWTSigner {
    /// Signs an arbitrary payload with the HS256 header (for hostile-claim tests).
    public func signRaw(_ payload: String) -> String {
        let valid = (try? JWTSigner(secretKey: testSecretKey).sign(TokenClaims(type: .refresh, expiresAt: 1, issuedAt: 1, jti: "x", userID: 1))) ?? ""
        let key = SymmetricKey(data: Data(testSecretKey.utf8))
        let header = valid.split(separator: ".")[0]
        let input = header + "." + Base64URL.encode(Data(payload.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: key)
        return input + "." + Base64URL.encode(Data(mac))
    }
}
