import Foundation
import Runtime

/// `http`: writes the raw request body to `function_output.json` and answers 200.
struct HTTPConformance: HTTPFunction {
    let name = "http"
    let output: URL

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        try request.body.write(to: output)
        return FunctionResponse(status: .ok)
    }
}

/// `cloudevent`: writes the received event as structured-mode JSON to `function_output.json`.
struct CloudEventConformance: CloudEventFunction {
    let name = "cloudevent"
    let output: URL

    func handle(_ event: CloudEvent, context: FunctionContext) async throws {
        try event.structuredJSON().write(to: output)
    }
}

/// `typed`: answers `{"payload": <the request JSON>}`.
struct TypedConformance: JSONFunction {
    struct Output: Encodable, Sendable {
        let payload: JSONValue
    }

    let name = "typed"

    func handle(_ input: JSONValue, context: FunctionContext) async throws -> Output {
        Output(payload: input)
    }
}
