import Domain
import Foundation
import Primitives
import Runtime

/// `send-alert` (private): `POST /` an alert (JSON, a CloudEvent or a Pub/Sub push whose data is that JSON)
/// → 202 `{id, channels}`; `POST /drain` retries sends that are due (Cloud Scheduler).
struct SendAlert: HTTPFunction {
    let name = "send-alert"
    let alerts: AlertService
    let access: PrivateAccess
    let defaultRecipients: [String]

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        try access.check(request)
        guard request.path == "/" || request.path == "/drain" else { throw HTTPError.notFound() }
        guard request.method == .post else { throw HTTPError.methodNotAllowed(request.method, allowed: [.post]) }
        if request.path == "/drain" {
            return try .json(try await alerts.drain(logger: context.logger))
        }
        var json = request.body
        if CloudEvent.isCloudEvent(request) || PubSubMessage.isPushEnvelope(request) {
            let event = try CloudEvent(anyEventRequest: request)
            json = event.type == PubSubMessage.messagePublishedType ? try PubSubMessage(event: event).data : (event.data ?? Data())
        }
        switch Alert.validate(json, defaultRecipients: defaultRecipients) {
        case .failure(let error):
            let fields = error.fields.sorted { $0.key < $1.key }
                .map { JSONText.quoted($0.key) + ":[" + $0.value.map(JSONText.quoted).joined(separator: ",") + "]" }
                .joined(separator: ",")
            throw HTTPError(
                .badRequest, code: "invalid_alert", detail: "Invalid alert.",
                body: Data("{\"detail\":\"Invalid alert.\",\"code\":\"invalid_alert\",\"errors\":{\(fields)}}".utf8)
            )
        case .success(let alert):
            let submitted = try await alerts.submit(alert, requestID: context.requestID, logger: context.logger)
            return .jsonBody(Data(submitted.body.utf8), status: .accepted)
        }
    }
}
