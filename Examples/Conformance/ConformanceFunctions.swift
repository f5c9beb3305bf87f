import Foundation
import Primitives
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

/// `delay`: answers `{"slept_ms": N}` after `?ms=N` milliseconds (at most 30 s); the drain tests use it to
/// keep requests in flight while the process receives SIGTERM. It logs "delay: sleeping" as it starts, so a test
/// knows its requests are in the handler before it signals.
struct DelayFunction: HTTPFunction {
    let name = "delay"

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        let milliseconds = min(Int(request.queryValue("ms") ?? "") ?? 0, 30_000)
        context.logger.info("delay: sleeping", metadata: ["ms": "\(milliseconds)"])
        try await Task.sleep(for: .milliseconds(milliseconds))
        return .jsonBody(Data("{\"slept_ms\":\(milliseconds)}".utf8))
    }
}
