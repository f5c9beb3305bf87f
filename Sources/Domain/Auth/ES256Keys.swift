import Crypto
import Foundation
import JWTKit
import Primitives

/// The ES256 key pair tokens are signed with (`JWT_ES256_PRIVATE_KEY`), and the retired public keys that still
/// verify and are still published (`JWT_ES256_RETIRED_PUBLIC_KEYS`), so that other services can check tokens with
/// `GET /.well-known/jwks.json` and no secret. JWTKit holds the keys and computes the signatures; the token
/// around them is assembled by ``JWTSigner`` exactly as for HS256.
///
/// Each key's `kid` is its RFC 7638 thumbprint (SHA-256 of the canonical JWK), so it is stable, needs no setting,
/// and a retired key keeps the id its tokens carry.
public struct ES256Keys: Sendable {
    /// One key.
    public struct Key: Sendable {
        /// The RFC 7638 thumbprint, base64url.
        public let kid: String
        /// The public JWK, as JSON (`kty`, `crv`, `x`, `y`, `alg`, `use`, `kid`).
        public let jwk: String
        let algorithm: any JWTAlgorithm
        /// `{"alg":"ES256","kid":"…","typ":"JWT"}`, base64url.
        let encodedHeader: [UInt8]
    }

    /// The signing key.
    public let current: Key
    /// Keys no longer used for signing whose tokens may still be alive.
    public let retired: [Key]

    /// A problem with a configured key.
    public struct InvalidKey: Error, Sendable, CustomStringConvertible {
        /// What is wrong (never the key).
        public let description: String
        /// Whether a retired key is at fault (else the signing key).
        public var isRetiredKey = false
    }

    /// Loads the signing key (a PEM EC P-256 private key, SEC 1 or PKCS #8) and any retired public keys (PEM
    /// blocks, concatenated).
    public static func load(privateKeyPEM: String, retiredPublicKeysPEM: String? = nil) async throws -> ES256Keys {
        let privateKey: ES256PrivateKey
        do { privateKey = try ES256PrivateKey(pem: privateKeyPEM) } catch {
            throw InvalidKey(description: "is not a PEM EC P-256 private key")
        }
        let current = try await key(privateKey, publicKey: privateKey.publicKey)
        var retired: [Key] = []
        for block in pemBlocks(retiredPublicKeysPEM ?? "") {
            let publicKey: ES256PublicKey
            do { publicKey = try ES256PublicKey(pem: block) } catch {
                throw InvalidKey(description: "holds a block that is not a PEM EC P-256 public key", isRetiredKey: true)
            }
            let key = try await key(publicKey, publicKey: publicKey)
            if key.kid != current.kid { retired.append(key) }
        }
        return ES256Keys(current: current, retired: retired)
    }

    /// The key a token names.
    public func key(kid: String) -> Key? {
        kid == current.kid ? current : retired.first { $0.kid == kid }
    }

    /// The JSON Web Key Set: the signing key first, then the retired ones.
    public var jwks: String {
        #"{"keys":["# + ([current] + retired).map(\.jwk).joined(separator: ",") + "]}"
    }

    private static func key(_ key: some ECDSAKey, publicKey: ES256PublicKey) async throws -> Key {
        guard let (x, y) = publicKey.parameters else { throw InvalidKey(description: "has no public point") }
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        let kid = Base64URL.encode(Data(SHA256.hash(data: Data(canonical.utf8))))
        let collection = JWTKeyCollection()
        await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        let algorithm = try await collection.getKey(for: JWKIdentifier(string: kid), alg: "ES256")
        let header = #"{"alg":"ES256","kid":"\#(kid)","typ":"JWT"}"#
        return Key(
            kid: kid,
            jwk: #"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)","alg":"ES256","use":"sig","kid":"\#(kid)"}"#,
            algorithm: algorithm,
            encodedHeader: Array(Base64URL.encode(Data(header.utf8)).utf8)
        )
    }

    /// The PEM blocks (`-----BEGIN …-----` to `-----END …-----`) in `text`.
    static func pemBlocks(_ text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-----BEGIN ") { current = [] }
            current.append(Substring(trimmed))
            if trimmed.hasPrefix("-----END ") { blocks.append(current.joined(separator: "\n")) }
        }
        return blocks
    }
}

/// Whether text is a PEM EC P-256 private key, without loading it for signing (start-up checks, synchronously).
public enum ES256PrivateKeyCheck {
    /// True when JWTKit reads `pem` as an ES256 private key.
    public static func isValid(_ pem: String) throws -> Bool {
        _ = try ES256PrivateKey(pem: pem)
        return true
    }
}
