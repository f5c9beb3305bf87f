import Crypto
import Foundation
import Primitives

/// HS256 JSON Web Tokens exactly as djangorestframework-simplejwt issues and checks them.
///
/// Only `HS256` is accepted (`alg: none`, HS512 and everything else are refused before any other check);
/// the signature is compared in constant time; `exp` is checked against the injected clock, and so is `iat`:
/// a token issued in the future (beyond ``issuedAtLeeway`` for clocks that differ between instances) is refused,
/// as PyJWT refuses it for simplejwt.
public struct JWTSigner: Sendable {
    /// How far in the future `iat` may be (30 s).
    public static let issuedAtLeeway: Int64 = 30

    /// HMAC-SHA256 keyed once with `SECRET_KEY`: every signature starts from a copy of this state, so the key's
    /// inner and outer pads are not hashed again for each token (three times per refresh).
    private let keyed: KeyedMAC

    /// A signer keyed with the UTF-8 bytes of `SECRET_KEY`, as Django's settings hold it.
    public init(secretKey: String) {
        self.keyed = KeyedMAC(HMAC<SHA256>(key: SymmetricKey(data: Array(secretKey.utf8))))
    }

    /// The fixed header simplejwt writes, `{"alg":"HS256","typ":"JWT"}`, encoded.
    static let encodedHeader = Array(Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)).utf8)

    /// Signs claims. Claim order follows simplejwt: token_type, exp, iat, jti, user_id.
    public func sign(_ claims: TokenClaims) -> String {
        var token = Self.encodedHeader
        token.reserveCapacity(256)
        token.append(UInt8(ascii: "."))
        Base64URL.append(claims.json(), to: &token)
        let signature = authenticationCode(token[...])
        token.append(UInt8(ascii: "."))
        Base64URL.append(signature, to: &token)
        return String(decoding: token, as: UTF8.self)
    }

    /// Verifies signature, algorithm and expiry, then the type and id claims, in simplejwt's order. With no
    /// expected type (simplejwt's `UntypedToken`, for its verify view) the type is not checked.
    public func verify(_ token: String, expecting type: TokenClaims.TokenType?, now: Int64) throws(TokenError) -> TokenClaims {
        guard token.utf8.count <= 8192 else { throw .invalidOrExpired }
        let bytes = Array(token.utf8)
        let dot = UInt8(ascii: ".")
        guard let first = bytes.firstIndex(of: dot), let second = bytes[(first + 1)...].firstIndex(of: dot),
            !bytes[(second + 1)...].contains(dot),
            let payload = Base64URL.decodeBytes(bytes[(first + 1)..<second]),
            let signature = Base64URL.decodeBytes(bytes[(second + 1)...])
        else { throw .invalidOrExpired }
        // simplejwt's own header is the common case: compare bytes before paying for a JSON decode.
        if !bytes[..<first].elementsEqual(Self.encodedHeader) {
            guard let header = Base64URL.decodeBytes(bytes[..<first]),
                let decoded = try? JSONDecoder().decode(Header.self, from: Data(header)), decoded.alg == "HS256"
            else { throw .invalidOrExpired }
        }
        guard ConstantTime.equals(signature, authenticationCode(bytes[..<second])) else { throw .invalidOrExpired }
        let claims = try TokenClaims(json: Data(payload))
        guard let exp = claims.expiresAt, exp > now else { throw .invalidOrExpired }
        if let iat = claims.issuedAt, iat > now + Self.issuedAtLeeway { throw .invalidOrExpired }
        guard claims.jti != nil else { throw .noID }
        guard let type else { return claims }
        guard let tokenType = claims.tokenType else { throw .noType }
        guard tokenType == type.rawValue else { throw .wrongType }
        return claims
    }

    private func authenticationCode(_ signingInput: ArraySlice<UInt8>) -> [UInt8] {
        var mac = keyed.state
        mac.update(data: signingInput)
        return Array(mac.finalize())
    }

    private struct Header: Decodable {
        let alg: String
    }
}

/// A keyed HMAC state that is only ever copied, never mutated in place (so sharing it across tasks is safe).
private struct KeyedMAC: @unchecked Sendable {
    let state: HMAC<SHA256>
    init(_ state: HMAC<SHA256>) { self.state = state }
}
