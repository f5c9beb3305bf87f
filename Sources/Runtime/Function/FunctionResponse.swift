import Foundation
public import Primitives
public import HTTPTypes

/// An HTTP response produced by a function, independent of the server library underneath.
public struct FunctionResponse: Sendable {
    /// The status code.
    public var status: HTTPResponse.Status
    /// The response headers.
    public var headers: HTTPFields
    /// The complete body.
    public var body: Data

    /// Creates a response from its parts.
    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from an `Encodable` value.
    public static func json(
        _ value: some Encodable,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:],
        encoder: JSONEncoder = .stable
    ) throws -> FunctionResponse {
        try .jsonBody(encoder.encode(value), status: status, headers: headers)
    }

    /// A JSON response from bytes that already are JSON.
    public static func jsonBody(
        _ body: Data,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) -> FunctionResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return FunctionResponse(status: status, headers: headers, body: body)
    }

    /// A plain-text response.
    public static func text(_ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8")
        -> FunctionResponse
    {
        FunctionResponse(status: status, headers: [.contentType: contentType], body: Data(text.utf8))
    }
}
