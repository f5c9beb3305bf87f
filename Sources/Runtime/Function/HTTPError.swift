import Foundation
public import HTTPTypes
import Primitives

/// An error that carries its own HTTP answer: status, stable `code`, safe `detail`.
///
/// The invoker turns it into `{"detail": …, "code": …}`; `body` replaces that shape where a replaced
/// system's exact body must be kept (login and refresh keep simplejwt's).
public struct HTTPError: Error, Sendable {
    /// The status to answer with.
    public var status: HTTPResponse.Status
    /// A stable machine-readable code.
    public var code: String
    /// Safe, human text: never input echoed back, never a secret.
    public var detail: String
    /// Extra headers (`Retry-After`, `WWW-Authenticate`, `Allow`).
    public var headers: HTTPFields
    /// A JSON body to send instead of the default shape.
    public var body: Data?

    /// Creates an error answer.
    public init(_ status: HTTPResponse.Status, code: String, detail: String, headers: HTTPFields = [:], body: Data? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers
        self.body = body
    }

    /// The response this error becomes.
    public var response: FunctionResponse {
        let payload = body ?? Data("{\"detail\":\(JSONText.quoted(detail)),\"code\":\(JSONText.quoted(code))}".utf8)
        return .jsonBody(payload, status: status, headers: headers)
    }
}

extension HTTPError {
    /// 400 with the given code and detail.
    public static func badRequest(_ detail: String, code: String = "bad_request") -> HTTPError {
        HTTPError(.badRequest, code: code, detail: detail)
    }

    /// 404 for a path that has no handler.
    public static func notFound(_ detail: String = "Not found.") -> HTTPError {
        HTTPError(.notFound, code: "not_found", detail: detail)
    }

    /// 405 listing the allowed methods.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> HTTPError {
        HTTPError(
            .methodNotAllowed,
            code: "method_not_allowed",
            detail: "Method \"\(method.rawValue)\" not allowed.",
            headers: [.allow: allowed.map(\.rawValue).joined(separator: ", ")]
        )
    }

    /// 413 for a body over the limit.
    public static func payloadTooLarge(limit: Int) -> HTTPError {
        HTTPError(.contentTooLarge, code: "payload_too_large", detail: "Request body is larger than \(limit) bytes.")
    }

    /// 503 with `Retry-After`, for a dependency that is down and will come back.
    public static func unavailable(_ detail: String = "Service temporarily unavailable.", retryAfter: Int = 5) -> HTTPError {
        HTTPError(.serviceUnavailable, code: "unavailable", detail: detail, headers: [.retryAfter: String(retryAfter)])
    }

    /// The generic 500 body: the detail of the cause only goes to the log.
    public static let internalError = HTTPError(.internalServerError, code: "internal_error", detail: "Internal server error.")
}
