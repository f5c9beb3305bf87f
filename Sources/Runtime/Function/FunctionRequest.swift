import Foundation
public import HTTPTypes

/// An HTTP request as a function sees it, independent of the server library underneath.
public struct FunctionRequest: Sendable {
    /// The request method.
    public var method: HTTPRequest.Method
    /// The path below the function's root, always starting with `/` and without the query.
    public var path: String
    /// The raw query string (without `?`), if any.
    public var query: String?
    /// The request headers.
    public var headers: HTTPFields
    /// The whole request body, already bounded by the runtime's body limit.
    public var body: Data
    /// The peer address of the TCP connection, when known.
    public var peerAddress: String?

    /// Creates a request; tests use this to call handlers without a socket.
    public init(
        method: HTTPRequest.Method,
        path: String,
        query: String? = nil,
        headers: HTTPFields = [:],
        body: Data = Data(),
        peerAddress: String? = nil
    ) {
        self.method = method
        self.path = path.isEmpty ? "/" : path
        self.query = query
        self.headers = headers
        self.body = body
        self.peerAddress = peerAddress
    }

    /// The media type of the body (`Content-Type` without parameters, lowercased), if any.
    public var mediaType: String? {
        guard let value = headers[.contentType] else { return nil }
        // Byte-level: this runs several times per request (CloudEvent and Pub/Sub detection, body parsing).
        let bytes = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else { return nil }
        let type = String(Substring(value.utf8[first...last]))
        return type.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) ? type.lowercased() : type
    }

    /// The client address: the `X-Forwarded-For` entry that Cloud Run's front end appended (the rightmost;
    /// entries left of it come from the client and can be forged), else the peer.
    public var clientAddress: String? {
        if let forwarded = headers[.xForwardedFor] {
            let last = forwarded.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) }
            if let last, !last.isEmpty, last.utf8.count <= 64 { return last }
        }
        return peerAddress
    }

    /// Decoded query parameters, in order; `+` is a space as in HTML forms.
    public var queryItems: [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return FormURLEncoding.decode(query)
    }

    /// The first value of the query parameter `name`.
    public func queryValue(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}
