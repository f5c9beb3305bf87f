import Foundation

/// A function that takes a JSON request body and answers with a JSON body (the "typed" signature).
///
/// It adapts down to ``HTTPFunction``: the body is decoded into `Input` (a clear 400 when it does not
/// fit), the returned `Output` is encoded as the 200 body.
public protocol JSONFunction: HTTPFunction {
    /// The decoded request body.
    associatedtype Input: Decodable & Sendable
    /// The value encoded as the response body.
    associatedtype Output: Encodable & Sendable

    /// Answers one decoded request.
    func handle(_ input: Input, context: FunctionContext) async throws -> Output
}

extension JSONFunction {
    /// Decodes, calls the typed handler, encodes.
    public func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        guard request.method == .post || request.method == .put else {
            throw HTTPError.methodNotAllowed(request.method, allowed: [.post])
        }
        let input: Input
        do {
            input = try JSONDecoder().decode(Input.self, from: request.body)
        } catch {
            throw HTTPError.badRequest("Request body is not valid JSON for this function.", code: "invalid_json")
        }
        return try .json(try await handle(input, context: context))
    }
}
