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
    /// When set, tokens are signed with its current key (ES256) and verified with any of its keys.
    private let es256: ES256Keys?
    /// With ES256 signing, HS256 tokens (the replaced system's, and ours from before the switch) are accepted until
    /// this Unix time; nil accepts them without end.
    private let acceptHS256Until: Int64?

    /// A signer keyed with the UTF-8 bytes of `SECRET_KEY`, as Django's settings hold it; with `es256`, tokens are
    /// signed ES256 instead, and HS256 ones are still accepted until `acceptHS256Until`.
    public init(secretKey: String, es256: ES256Keys? = nil, acceptHS256Until: Int64? = nil) {
        self.keyed = KeyedMAC(HMAC<SHA256>(key: SymmetricKey(data: Array(secretKey.utf8))))
        self.es256 = es256
        self.acceptHS256Until = es256 == nil ? nil : acceptHS256Until
    }

    /// The JSON Web Key Set to publish, when tokens are signed with a key pair.
    public var jwks: String? { es256?.jwks }

    /// The fixed header simplejwt writes, `{"alg":"HS256","typ":"JWT"}`, encoded.
    static let encodedHeader = Array(Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)).utf8)

    /// Signs claims. Claim order follows simplejwt: token_type, exp, iat, jti, user_id. HS256 never throws; ES256
    /// throws only if the crypto library does.
    public func sign(_ claims: TokenClaims) throws -> String {
        var token = es256?.current.encodedHeader ?? Self.encodedHeader
        token.reserveCapacity(256)
        token.append(UInt8(ascii: "."))
        Base64URL.append(claims.json(), to: &token)
        let signature = try es256.map { try $0.current.algorithm.sign(token) } ?? authenticationCode(token[...])
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
        var es256Key: ES256Keys.Key?
        if !bytes[..<first].elementsEqual(Self.encodedHeader) {
            guard let header = Base64URL.decodeBytes(bytes[..<first]),
                let decoded = try? JSONDecoder().decode(Header.self, from: Data(header))
            else { throw .invalidOrExpired }
            switch decoded.alg {
            case "HS256": break
            case "ES256":
                guard let es256, let kid = decoded.kid, let key = es256.key(kid: kid) else { throw .invalidOrExpired }
                es256Key = key
            default: throw .invalidOrExpired
            }
        }
        if let key = es256Key {
            guard signature.count == 64, (try? key.algorithm.verify(signature, signs: bytes[..<second])) == true else { throw .invalidOrExpired }
        } else {
            if let until = acceptHS256Until, now >= until { throw .invalidOrExpired }
            guard ConstantTime.equals(signature, authenticationCode(bytes[..<second])) else { throw .invalidOrExpired }
        }
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
        let kid: String?
    }
}

/// A keyed HMAC state that is only ever copied, never mutated in place (so sharing it across tasks is safe).
private struct KeyedMAC: @unchecked Sendable {
    let state: HMAC<SHA256>
    init(_ state: HMAC<SHA256>) { self.state = state }
}
