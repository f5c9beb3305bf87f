import Foundation

/// A function that receives CloudEvents (binary or structured mode, or a raw Pub/Sub push) and answers 2xx.
///
/// It adapts down to ``HTTPFunction``: a malformed event is a 400, a thrown error a 500 so the platform
/// redelivers it, success an empty 200.
public protocol CloudEventFunction: HTTPFunction {
    /// Handles one event. Throw only for failures a redelivery can fix.
    func handle(_ event: CloudEvent, context: FunctionContext) async throws
}

extension CloudEventFunction {
    /// CloudEvents only.
    public var signatures: Set<SignatureType> { [.cloudevent] }

    /// Parses the event, then calls the event handler.
    public func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        guard request.method == .post else { throw HTTPError.methodNotAllowed(request.method, allowed: [.post]) }
        let event = try CloudEvent(anyEventRequest: request)
        var logger = context.logger
        logger[metadataKey: "event_type"] = .string(event.type)
        var context = context
        context.logger = logger
        try await handle(event, context: context)
        return FunctionResponse(status: .ok)
    }
}
