import Crypto
import Foundation

/// HS256 JSON Web Tokens exactly as djangorestframework-simplejwt issues and checks them.
///
/// Only `HS256` is accepted (`alg: none`, HS512 and everything else are refused before any other check);
/// the signature is compared in constant time; `exp` is checked against the injected clock.
public struct JWTSigner: Sendable {
    private let keyBytes: [UInt8]

    /// A signer keyed with the UTF-8 bytes of `SECRET_KEY`, as Django's settings hold it.
    public init(secretKey: String) {
        self.keyBytes = Array(secretKey.utf8)
    }

    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// The fixed header simplejwt writes: `{"alg":"HS256","typ":"JWT"}`.
    static let encodedHeader = Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    /// Signs claims. Claim order follows simplejwt: token_type, exp, iat, jti, user_id.
    public func sign(_ claims: TokenClaims) -> String {
        let payload = Base64URL.encode(claims.json())
        let signingInput = Self.encodedHeader + "." + payload
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return signingInput + "." + Base64URL.encode(Data(signature))
    }

    /// Verifies signature, algorithm and expiry, then the type and id claims, in simplejwt's order.
    public func verify(_ token: String, expecting type: TokenClaims.TokenType, now: Int64) throws(TokenError) -> TokenClaims {
        guard token.utf8.count <= 8192 else { throw .invalidOrExpired }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Base64URL.decode(parts[0]), let payloadData = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .invalidOrExpired }
        // simplejwt's own header is the common case: compare bytes before paying for a JSON decode.
        if parts[0] != Self.encodedHeader {
            guard let header = try? JSONDecoder().decode(Header.self, from: headerData), header.alg == "HS256" else {
                throw .invalidOrExpired
            }
        }
        let signingInput = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else {
            throw .invalidOrExpired
        }
        let claims = try TokenClaims(json: payloadData)
        guard let exp = claims.expiresAt, exp > now else { throw .invalidOrExpired }
        guard claims.jti != nil else { throw .noID }
        guard let tokenType = claims.tokenType else { throw .noType }
        guard tokenType == type.rawValue else { throw .wrongType }
        return claims
    }

    private struct Header: Decodable {
        let alg: String
    }
}
