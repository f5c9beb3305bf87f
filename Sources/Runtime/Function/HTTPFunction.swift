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

    /// The signatures it can be served as (`FUNCTION_SIGNATURE_TYPE`); plain HTTP unless it says otherwise.
    var signatures: Set<SignatureType> { get }
}

/// A Functions Framework signature type (`FUNCTION_SIGNATURE_TYPE`).
public enum SignatureType: String, Sendable, CaseIterable {
    /// The raw request in, a response out.
    case http
    /// A CloudEvent in (binary or structured mode, or a Pub/Sub push), a 2xx out.
    case cloudevent
}

extension HTTPFunction {
    /// Plain HTTP.
    public var signatures: Set<SignatureType> { [.http] }

    /// The runtime's limit.
    public func maxBodyBytes(method: HTTPRequest.Method, path: String) -> Int? { nil }
}
