import Domain
import Foundation
import Primitives
import Runtime
import Store

/// The one place where outcomes and errors become HTTP: status, headers and bodies.
///
/// Login and refresh keep the shapes of the simplejwt system they replace (`{"detail": …}`, field errors,
/// `WWW-Authenticate` on every 401); everything else answers errors as `{"detail", "code"}`. The runtime answers its
/// own (404, 405, 413, malformed CloudEvents) and falls back to a generic 500 for anything not mapped here.
enum Answers {
    /// `WWW-Authenticate` on every 401, as the original sends it.
    static let authenticate = "Bearer realm=\"api\""

    // MARK: Errors

    /// The answer for an error the functions throw, or nil for an unexpected one (a 500, its detail in the log).
    @Sendable static func error(for error: any Error) -> HTTPError? {
        switch error {
        case StoreError.unavailable:
            return .unavailable("The database is unavailable; try again shortly.", retryAfter: 5)
        case let error as TokenError:
            return HTTPError(.unauthorized, code: "token_not_valid", detail: error.detail, headers: [.wwwAuthenticate: authenticate])
        case AuthError.noActiveAccount:
            return HTTPError(
                .unauthorized, code: "no_active_account", detail: "No active account found for the given token.",
                headers: [.wwwAuthenticate: authenticate]
            )
        case let refusal as LoginRefusal:
            return loginRefused(refusal)
        case let invalid as DRFFields.Invalid:
            let members = invalid.fields.map { JSONText.quoted($0.name) + ":[" + $0.messages.map(JSONText.quoted).joined(separator: ",") + "]" }
            return HTTPError(.badRequest, code: "invalid", detail: "Invalid input.", body: Data(("{" + members.joined(separator: ",") + "}").utf8))
        case let failure as RequestFields.Failure:
            return unreadable(failure)
        case is PrivateAccess.Denied:
            return HTTPError(
                .unauthorized, code: "not_authenticated", detail: "Authentication credentials were not provided or are invalid.",
                headers: [.wwwAuthenticate: authenticate]
            )
        case let rejection as ReceiveRejection:
            return receiveRejected(rejection)
        case let rejection as PublishRejection:
            let code = switch rejection {
            case .notJSONObject: "invalid_json"
            case .duplicateKey: "duplicate_key"
            default: "invalid_event"
            }
            return .badRequest(publishRejected(rejection), code: code)
        case let invalid as AlertValidationError:
            let fields = invalid.fields.sorted { $0.key < $1.key }
                .map { JSONText.quoted($0.key) + ":[" + $0.value.map(JSONText.quoted).joined(separator: ",") + "]" }
                .joined(separator: ",")
            return HTTPError(
                .badRequest, code: "invalid_alert", detail: "Invalid alert.",
                body: Data("{\"detail\":\"Invalid alert.\",\"code\":\"invalid_alert\",\"errors\":{\(fields)}}".utf8)
            )
        default:
            return nil
        }
    }

    /// DRF's `{"detail": text}` error.
    static func drf(_ text: String, status: HTTPResponse.Status, code: String, headers: HTTPFields = [:]) -> HTTPError {
        HTTPError(status, code: code, detail: text, headers: headers, body: Data("{\"detail\":\(JSONText.quoted(text))}".utf8))
    }

    /// DRF's 405 `{"detail":"Method \"GET\" not allowed."}` (login and refresh).
    @Sendable static func drfMethodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> any Error {
        drf("Method \"\(method.rawValue)\" not allowed.", status: .methodNotAllowed, code: "method_not_allowed", headers: [.allow: "POST, OPTIONS"])
    }

    static func loginRefused(_ refusal: LoginRefusal) -> HTTPError {
        switch refusal {
        case .invalidCredentials:
            return drf(
                "No active account found with the given credentials", status: .unauthorized, code: "no_active_account",
                headers: [.wwwAuthenticate: authenticate]
            )
        case .throttled(let retryAfter):
            let unit = retryAfter == 1 ? "second" : "seconds"
            return drf(
                "Request was throttled. Expected available in \(retryAfter) \(unit).", status: .tooManyRequests, code: "throttled",
                headers: [.retryAfter: String(retryAfter)]
            )
        }
    }

    /// DRF's answers for a body none of its parsers takes, or that does not parse.
    static func unreadable(_ failure: RequestFields.Failure) -> HTTPError {
        switch failure {
        case .malformedJSON(let message):
            return drf("JSON parse error - \(message)", status: .badRequest, code: "parse_error")
        case .unsupportedMediaType(let type):
            return drf("Unsupported media type \"\(type)\" in request.", status: .unsupportedMediaType, code: "unsupported_media_type")
        case .malformedMultipart:
            return drf("Multipart form parse error - Invalid boundary in multipart: None", status: .badRequest, code: "parse_error")
        case .duplicateKey:
            return drf("JSON parse error - a key appears twice in the object.", status: .badRequest, code: "duplicate_key")
        }
    }

    static func receiveRejected(_ rejection: ReceiveRejection) -> HTTPError {
        switch rejection {
        case .unknownSource:
            return .notFound("Unknown webhook source.")
        case .badSignature(.missingHeaders):
            return HTTPError(.unauthorized, code: "invalid_signature", detail: "Missing or malformed signature headers.")
        case .badSignature(.staleTimestamp):
            return HTTPError(.unauthorized, code: "invalid_signature", detail: "The webhook timestamp is too far from now.")
        case .badSignature(.mismatch):
            return HTTPError(.unauthorized, code: "invalid_signature", detail: "The signature does not match.")
        case .notJSON:
            return .badRequest("The body is not JSON.", code: "invalid_json")
        case .duplicateKey:
            return .badRequest("A key appears twice in the JSON object.", code: "duplicate_key")
        case .invalidEventType:
            return .badRequest("type must be 1 to 200 bytes of text without control characters.", code: "invalid_event_type")
        case .tooLarge(let limit):
            return .payloadTooLarge(limit: limit)
        }
    }

    static func publishRejected(_ rejection: PublishRejection) -> String {
        switch rejection {
        case .notJSONObject: return "Body must be a JSON object {type, data, idempotency_key?}."
        case .missingType: return "type is required and must be a string."
        case .invalidType: return "type must be a dotted event name such as user.created."
        case .missingData: return "data is required."
        case .invalidIdempotencyKey: return "idempotency_key must be a string of 1 to 200 characters, without control characters."
        case .cloudEventDataNotJSON: return "CloudEvent data must be JSON."
        case .pubSubMessageWithoutType: return "Pub/Sub message needs a JSON {type, data} body or a type attribute."
        case .duplicateKey: return "A key appears twice in a JSON object (the body, or its data)."
        }
    }

    // MARK: Outcomes

    /// Login: 200 `{"refresh", "access"}` in simplejwt's order. Written as bytes: login and refresh are the
    /// hot paths, and the token strings need no escaping beyond what ``JSONText`` does.
    static func loggedIn(_ tokens: AuthService.Tokens) -> FunctionResponse {
        .jsonBody(Data("{\"refresh\":\(JSONText.quoted(tokens.refresh)),\"access\":\(JSONText.quoted(tokens.access))}".utf8))
    }

    /// Refresh: 200 `{"access", "refresh"}` in simplejwt's order.
    static func refreshed(_ tokens: AuthService.Tokens) -> FunctionResponse {
        .jsonBody(Data("{\"access\":\(JSONText.quoted(tokens.access)),\"refresh\":\(JSONText.quoted(tokens.refresh))}".utf8))
    }

    /// Revoke and verify: 200 `{}`.
    static let empty = FunctionResponse.jsonBody(Data("{}".utf8))

    /// refresh: the JSON Web Key Set, cacheable for five minutes (a retired key stays listed far longer).
    static func jwks(_ jwks: String) -> FunctionResponse {
        var response = FunctionResponse.jsonBody(Data(jwks.utf8))
        response.headers[.contentType] = "application/jwk-set+json"
        response.headers[.cacheControl] = "public, max-age=300"
        return response
    }

    /// webhook-receive: 202 `{"id"}` for an accepted event, 200 `{"id","status":"ignored"}` for a type the source
    /// may not send; a duplicate gets the first answer again. Also what `webhook_events` records as answered.
    static func received(_ receipt: WebhookReceiver.Receipt) -> (status: HTTPResponse.Status, body: String) {
        let id = receipt.id.uuidString.lowercased()
        switch receipt.disposition {
        case .accepted: return (.accepted, "{\"id\":\"\(id)\"}")
        case .ignored: return (.ok, "{\"id\":\"\(id)\",\"status\":\"ignored\"}")
        }
    }

    /// webhook-dispatch's publish: 202 `{"deliveries", "id"}`; the body is also stored for repeated idempotency keys.
    static func published(_ published: WebhookDispatcher.Published) throws -> FunctionResponse {
        try .json(published, status: .accepted)
    }

    /// send-alert: 202 `{"channels": {"email": "sent", …}, "id"}`; the body is also stored for repeated keys.
    static func submitted(_ submitted: AlertService.Submitted) throws -> FunctionResponse {
        try .json(submitted, status: .accepted)
    }

    /// An event that can never succeed, from Eventarc or a Pub/Sub push: 200 (so it is not redelivered)
    /// `{"errors": {field: [message]}, "reason", "status": "rejected"}`.
    static func rejected(_ rejection: EventRejection) throws -> FunctionResponse {
        struct Body: Encodable {
            var status = "rejected"
            var reason: String
            var errors: [String: [String]]
        }
        return try .json(Body(reason: rejection.reason, errors: rejection.fields))
    }

    /// A drain's report (webhook-dispatch and send-alert), 200.
    static func drained(_ report: some Encodable) throws -> FunctionResponse {
        try .json(report)
    }

    /// metrics: the Prometheus text exposition 0.0.4.
    static func metrics(_ samples: [MetricsSnapshot.Sample]) -> FunctionResponse {
        .text(PrometheusText.render(samples), contentType: PrometheusText.contentType)
    }
}
