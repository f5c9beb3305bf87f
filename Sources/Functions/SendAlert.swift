import Domain
import Foundation
import Primitives
import Runtime

/// `send-alert` (private): `POST /` an alert (JSON, a CloudEvent or a Pub/Sub push whose data is that JSON)
/// → 202 `{id, channels}`; `POST /drain` retries sends that are due (Cloud Scheduler).
///
/// An event is de-duplicated on its Pub/Sub `messageId` (else its CloudEvent `source` and `id`) unless the alert
/// names its own `idempotency_key`: a redelivery sends nothing again and gets the first answer. An event whose alert
/// can never be valid is answered 200 and recorded as rejected (``RejectedEvents``); a plain JSON caller gets 400.
struct SendAlert: RoutedFunction {
    let name = "send-alert"
    /// Plain JSON, or an event (CloudEvent, Pub/Sub push): `FUNCTION_SIGNATURE_TYPE` may fix which.
    let signatures: Set<SignatureType> = [.http, .cloudevent]
    let routes: Routes

    init(alerts: AlertService, rejections: RejectedEvents, access: PrivateAccess, defaultRecipients: [String]) {
        let name = self.name
        routes = Routes([
            .post("/", maxBodyBytes: alerts.settings.maxBodyBytes) { request, context in
                guard DeliveredEvent.isEvent(request, context) else {
                    if RawJSONObject.hasDuplicateKeys(request.body) { throw RequestFields.Failure.duplicateKey }
                    let alert = try Alert.validate(request.body, defaultRecipients: defaultRecipients).get()
                    return try Answers.submitted(try await alerts.submit(alert, requestID: context.requestID, logger: context.logger))
                }
                var key: String?
                do {
                    let event = try DeliveredEvent(request)
                    key = event.key
                    if RawJSONObject.hasDuplicateKeys(event.data) {
                        throw EventRejection(reason: "duplicate_key", fields: ["event": ["A key appears twice in the JSON object."]])
                    }
                    var alert: Alert
                    switch Alert.validate(event.data, defaultRecipients: defaultRecipients) {
                    case .success(let valid): alert = valid
                    case .failure(let invalid): throw EventRejection(reason: "invalid_alert", fields: invalid.fields)
                    }
                    alert.idempotencyKey = alert.idempotencyKey ?? event.key
                    return try Answers.submitted(try await alerts.submit(alert, requestID: context.requestID, logger: context.logger))
                } catch let rejection as EventRejection {
                    return try await rejections.record(rejection, function: name, key: key, requestID: context.requestID, logger: context.logger)
                }
            },
            .post("/drain") { request, context in
                return try Answers.drained(try await alerts.drain(logger: context.logger))
            },
        ], guard: { try access.check($0) }, maxBodyBytes: Routes.unroutedBodyBytes)
    }
}
