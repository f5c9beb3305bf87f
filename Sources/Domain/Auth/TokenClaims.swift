import Foundation

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

    /// Reads a payload; anything that is not a JSON object with well-typed claims is invalid.
    init(json: Data) throws(TokenError) {
        guard let payload = try? JSONDecoder().decode(Payload.self, from: json) else { throw .invalidOrExpired }
        self.tokenType = payload.token_type
        self.expiresAt = payload.exp?.value
        self.issuedAt = payload.iat?.value
        if let jti = payload.jti {
            guard !jti.isEmpty, jti.utf8.count <= 255 else { throw .invalidOrExpired }
        }
        self.jti = payload.jti
        switch payload.user_id {
        case nil:
            self.userID = nil
            self.userIDIsString = false
        case .some(.integer(let id)):
            guard id > 0 else { throw .invalidOrExpired }
            self.userID = id
            self.userIDIsString = false
        case .some(.string(let text)):
            guard let id = Int64(text), id > 0 else { throw .invalidOrExpired }
            self.userID = id
            self.userIDIsString = true
        }
    }

    private struct Payload: Decodable {
        var token_type: String?
        var exp: Seconds?
        var iat: Seconds?
        var jti: String?
        var user_id: UserID?
    }

    /// A NumericDate: an integer, or a number with a fraction (rounded down); never a bool or string.
    private struct Seconds: Decodable {
        let value: Int64
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let integer = try? container.decode(Int64.self) {
                value = integer
            } else {
                let double = try container.decode(Double.self)
                guard double.isFinite, abs(double) < 1e15 else {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "out of range")
                }
                value = Int64(double.rounded(.down))
            }
        }
    }

    private enum UserID: Decodable {
        case integer(Int64)
        case string(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let integer = try? container.decode(Int64.self) {
                self = .integer(integer)
            } else {
                self = .string(try container.decode(String.self))
            }
        }
    }

    /// The payload JSON in simplejwt's claim order.
    func json() -> Data {
        var members: [String] = []
        if let tokenType { members.append("\"token_type\":\"\(tokenType)\"") }
        if let expiresAt { members.append("\"exp\":\(expiresAt)") }
        if let issuedAt { members.append("\"iat\":\(issuedAt)") }
        if let jti { members.append("\"jti\":\"\(jti)\"") }
        if let userID { members.append(userIDIsString ? "\"user_id\":\"\(userID)\"" : "\"user_id\":\(userID)") }
        return Data(("{" + members.joined(separator: ",") + "}").utf8)
    }

    /// A new simplejwt-style id: 32 lowercase hex digits of a random (version 4) UUID.
    public static func newJTI() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        withUnsafeBytes(of: UUID.random().uuid) { bytes in
            for byte in bytes {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 15)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
