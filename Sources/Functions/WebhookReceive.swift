import Domain
import Foundation
import Runtime

/// `webhook-receive`: `POST /<source>` with a signed event → 202 `{"id"}` once it is durable in PostgreSQL.
struct WebhookReceive: HTTPFunction {
    let name = "webhook-receive"
    let receiver: WebhookReceiver
    let maxBodyBytes: Int

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.count == 1, let slug = segments.first.map(String.init) else {
            throw HTTPError.notFound("Unknown webhook source.")
        }
        guard request.method == .post else { throw HTTPError.methodNotAllowed(request.method, allowed: [.post]) }
        guard request.body.count <= maxBodyBytes else { throw HTTPError.payloadTooLarge(limit: maxBodyBytes) }
        let headers = WebhookReceiver.Headers(
            webhookID: request.headers[HTTPField.Name("webhook-id")!],
            webhookTimestamp: request.headers[HTTPField.Name("webhook-timestamp")!],
            webhookSignature: request.headers[HTTPField.Name("webhook-signature")!],
            xSignature: request.headers[HTTPField.Name("X-Signature")!] ?? request.headers[HTTPField.Name("X-Hub-Signature-256")!],
            eventType: request.headers[HTTPField.Name("X-Event-Type")!],
            eventID: request.headers[HTTPField.Name("X-Event-ID")!]
        )
        let answer = try await receiver.receive(
            slug: slug, headers: headers, body: request.body, requestID: context.requestID, logger: context.logger
        )
        return .jsonBody(Data(answer.body.utf8), status: HTTPResponse.Status(code: answer.status))
    }
}
