import Domain
import Foundation
import Primitives
import Runtime

/// `send-alert` (private): `POST /` an alert (JSON, a CloudEvent or a Pub/Sub push whose data is that JSON)
/// → 202 `{id, channels}`; `POST /drain` retries sends that are due (Cloud Scheduler).
struct SendAlert: RoutedFunction {
    let name = "send-alert"
    let routes: Routes

    init(alerts: AlertService, access: PrivateAccess, defaultRecipients: [String]) {
        routes = Routes([
            .post("/") { request, context in
                var json = request.body
                if CloudEvent.isCloudEvent(request) || PubSubMessage.isPushEnvelope(request) {
                    let event = try CloudEvent(anyEventRequest: request)
                    json = event.type == PubSubMessage.messagePublishedType ? try PubSubMessage(event: event).data : (event.data ?? Data())
                }
                let alert = try Alert.validate(json, defaultRecipients: defaultRecipients).get()
                return try Answers.submitted(try await alerts.submit(alert, requestID: context.requestID, logger: context.logger))
            },
            .post("/drain") { request, context in
                return try Answers.drained(try await alerts.drain(logger: context.logger))
            },
        ], guard: { try access.check($0) })
    }
}
