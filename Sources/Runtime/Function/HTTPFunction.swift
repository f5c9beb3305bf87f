public import HTTPTypes

/// A function served by the runtime: a name that `FUNCTION_TARGET` selects, and a handler for raw HTTP.
///
/// Every other kind of function (JSON in/out, CloudEvent in) adapts down to this one, so the server, the
/// local runner and the tests all call handlers through the same ``FunctionInvoker``.
public protocol HTTPFunction: Sendable {
    /// The name used by `FUNCTION_TARGET` and as the path prefix in the local runner.
    var name: String { get }

    /// Answers one request. `request.path` is relative to the function's root and starts with `/`.
    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse

    /// The most body bytes a request to `path` may carry, checked before the body is read (a 413 beyond it):
    /// nil takes the runtime's `MAX_REQUEST_BODY_BYTES`. The server never buffers more than the smaller of the two.
    func maxBodyBytes(method: HTTPRequest.Method, path: String) -> Int?
}

extension HTTPFunction {
    /// The runtime's limit.
    public func maxBodyBytes(method: HTTPRequest.Method, path: String) -> Int? { nil }
}
