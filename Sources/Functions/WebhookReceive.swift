import Domain
import Foundation
import Runtime

/// `webhook-receive`: `POST /<source>` with a signed event → 202 `{"id"}` once it is durable in PostgreSQL.
struct WebhookReceive: RoutedFunction {
    let name = "webhook-receive"
    let routes: Routes

    init(receiver: WebhookReceiver, maxBodyBytes: Int) {
        routes = Routes(
            [
                Routes.Route([.post], .oneSegment, maxBodyBytes: maxBodyBytes) { request, context in
                    guard request.body.count <= maxBodyBytes else { throw ReceiveRejection.tooLarge(limit: maxBodyBytes) }
                    let headers = WebhookReceiver.Headers(
                        webhookID: request.headers[.webhookID],
                        webhookTimestamp: request.headers[.webhookTimestamp],
                        webhookSignature: request.headers[.webhookSignature],
                        xSignature: request.headers[.xSignature] ?? request.headers[.xHubSignature256],
                        eventType: request.headers[.xEventType],
                        eventID: request.headers[.xEventID]
                    )
                    let receipt = try await receiver.receive(
                        slug: request.path.split(separator: "/").first.map(String.init) ?? "", headers: headers, body: request.body, requestID: context.requestID,
                        logger: context.logger
                    )
                    let answer = Answers.received(receipt)
                    return .jsonBody(Data(answer.body.utf8), status: answer.status)
                }
            ],
            notFound: Answers.receiveRejected(.unknownSource)
        )
    }
}
