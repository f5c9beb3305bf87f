import Foundation
import Primitives

/// The claims simplejwt puts in its tokens.
public struct TokenClaims: Sendable, Equatable {
    /// `token_type` values.
    public enum TokenType: String, Sendable {
        /// A refresh token.
        case refresh
        /// An access token.
        case access
    }

    /// `token_type`, when present.
    public var tokenType: String?
    /// `exp` in Unix seconds.
    public var expiresAt: Int64?
    /// `iat` in Unix seconds.
    public var issuedAt: Int64?
    /// `jti`: 32 lowercase hex digits in tokens simplejwt issues.
    public var jti: String?
    /// `user_id`, read from a JSON integer (simplejwt ≤ 5.4) or a string of digits (5.5.1+).
    public var userID: Int64?
    /// Whether `user_id` was written as a string (kept when re-issuing, so clients see the same shape).
    public var userIDIsString: Bool

    /// New claims.
    public init(type: TokenType, expiresAt: Int64, issuedAt: Int64, jti: String, userID: Int64, userIDIsString: Bool = false) {
        self.tokenType = type.rawValue
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.jti = jti
        self.userID = userID
        self.userIDIsString = userIDIsString
    }

    /// Reads a payload; anything that is not a JSON object with well-typed claims is invalid, and so is a claim
    /// given twice (JSON parsers disagree on which one counts).
    init(json: Data) throws(TokenError) {
        guard let object = try? RawJSONObject(parsing: json) else { throw .invalidOrExpired }
        for claim in ["token_type", "exp", "iat", "jti", "user_id"] where object.members.count(where: { $0.key == claim }) > 1 {
            throw .invalidOrExpired
        }
        func value(_ key: String) -> Data? {
            guard let raw = object[key], raw != Self.null else { return nil }
            return raw
        }
        func string(_ key: String) throws(TokenError) -> String? {
            do { return try object.string(key) } catch { throw .invalidOrExpired }
        }
        self.tokenType = try string("token_type")
        self.expiresAt = try Self.seconds(value("exp"))
        self.issuedAt = try Self.seconds(value("iat"))
        let jti = try string("jti")
        if let jti {
            // An id is stored and looked up: NUL (which PostgreSQL text cannot hold) and other control characters
            // make no id simplejwt issues, so such a token is refused like any other invalid one.
            guard !jti.isEmpty, jti.utf8.count <= 255 else { throw .invalidOrExpired }
            // Printable ASCII (every id simplejwt issues) needs no scalar properties.
            if !jti.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }), jti.unicodeScalars.contains(where: TextRules.isControl) {
                throw .invalidOrExpired
            }
        }
        self.jti = jti
        if let raw = value("user_id") {
            if let id = Self.integer(raw) {
                guard id > 0 else { throw .invalidOrExpired }
                self.userID = id
                self.userIDIsString = false
            } else {
                guard let text = try string("user_id"), let id = Int64(text), id > 0 else { throw .invalidOrExpired }
                self.userID = id
                self.userIDIsString = true
            }
        } else {
            self.userID = nil
            self.userIDIsString = false
        }
    }

    private static let null = Data("null".utf8)

    /// A JSON number without fraction or exponent that fits in Int64.
    private static func integer(_ raw: Data) -> Int64? {
        guard let first = raw.first, first == UInt8(ascii: "-") || (first >= 48 && first <= 57),
            raw.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) })
        else { return nil }
        return Int64(String(decoding: raw, as: UTF8.self))
    }

    /// A NumericDate: an integer, or a number with a fraction (rounded down); never a bool or string.
    private static func seconds(_ raw: Data?) throws(TokenError) -> Int64? {
        guard let raw else { return nil }
        if let integer = integer(raw) { return integer }
        guard let first = raw.first, first == UInt8(ascii: "-") || (first >= 48 && first <= 57),
            let double = Double(String(decoding: raw, as: UTF8.self)), double.isFinite, abs(double) < 1e15
        else { throw .invalidOrExpired }
        return Int64(double.rounded(.down))
    }

    /// The payload JSON in simplejwt's claim order. (Every string here is a fixed word or hex digits: nothing to
    /// escape.)
    func json() -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(128)
        func member(_ name: String, _ value: String, quoted: Bool) {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: quoted ? #"":""#.utf8 : #"":"#.utf8)
            out.append(contentsOf: value.utf8)
            if quoted { out.append(UInt8(ascii: "\"")) }
        }
        if let tokenType { member("token_type", tokenType, quoted: true) }
        if let expiresAt { member("exp", String(expiresAt), quoted: false) }
        if let issuedAt { member("iat", String(issuedAt), quoted: false) }
        if let jti { member("jti", jti, quoted: true) }
        if let userID { member("user_id", String(userID), quoted: userIDIsString) }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A new simplejwt-style id: 32 lowercase hex digits of a random (version 4) UUID.
    public static func newJTI() -> String {
        UUID.random().compactHex
    }
}
