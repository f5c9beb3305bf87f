import Foundation
import Primitives
import Runtime

/// The exact bodies Django REST framework and simplejwt answer with, which login and refresh keep.
enum DRFResponses {
    /// `WWW-Authenticate` on every 401, as the original sends it.
    static let authenticate = "Bearer realm=\"api\""

    /// `{"detail": text}`.
    static func detail(_ text: String, status: HTTPResponse.Status, code: String, headers: HTTPFields = [:]) -> HTTPError {
        HTTPError(status, code: code, detail: text, headers: headers, body: Data("{\"detail\":\(JSONText.quoted(text))}".utf8))
    }

    /// 405 `{"detail":"Method \"GET\" not allowed."}`.
    static func methodNotAllowed(_ method: HTTPRequest.Method) -> HTTPError {
        detail("Method \"\(method.rawValue)\" not allowed.", status: .methodNotAllowed, code: "method_not_allowed", headers: [.allow: "POST, OPTIONS"])
    }

    /// 400 `{"field": ["message", …], …}` in field order.
    static func fieldErrors(_ errors: [(String, [String])]) -> HTTPError {
        let members = errors.map { field, messages in
            JSONText.quoted(field) + ":[" + messages.map(JSONText.quoted).joined(separator: ",") + "]"
        }
        return HTTPError(.badRequest, code: "invalid", detail: "Invalid input.", body: Data(("{" + members.joined(separator: ",") + "}").utf8))
    }

    /// The answer for a body none of the parsers takes or that does not parse.
    static func unreadable(_ failure: RequestFields.Failure) -> HTTPError {
        switch failure {
        case .malformedJSON(let message):
            return detail("JSON parse error - \(message)", status: .badRequest, code: "parse_error")
        case .unsupportedMediaType(let type):
            return detail("Unsupported media type \"\(type)\" in request.", status: .unsupportedMediaType, code: "unsupported_media_type")
        case .malformedMultipart:
            return detail("Multipart form parse error - Invalid boundary in multipart: None", status: .badRequest, code: "parse_error")
        }
    }

    /// Reads required string fields as DRF's `CharField` does (trimmed, not blank), collecting every error.
    static func requiredStrings(_ names: [String], from fields: RequestFields) throws -> [String] {
        var values: [String] = []
        var errors: [(String, [String])] = []
        for name in names {
            switch fields[name] {
            case nil:
                errors.append((name, ["This field is required."]))
            case .null:
                errors.append((name, ["This field may not be null."]))
            case .bool, .structured:
                errors.append((name, ["Not a valid string."]))
            case .number(let text):
                values.append(text)
            case .string(let text):
                let trimmed = text.first?.isWhitespace == false && text.last?.isWhitespace == false
                    ? text : text.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty {
                    errors.append((name, ["This field may not be blank."]))
                } else {
                    values.append(trimmed)
                }
            }
        }
        guard errors.isEmpty else { throw fieldErrors(errors) }
        return values
    }

    /// Parses the body's fields, mapping parse failures to DRF's answers.
    static func fields(of request: FunctionRequest) throws -> RequestFields {
        do {
            return try RequestFields(request: request)
        } catch {
            throw unreadable(error)
        }
    }
}
