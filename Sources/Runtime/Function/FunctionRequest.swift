import Foundation
import Primitives
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
    /// How many proxies in front append to `X-Forwarded-For` (`TRUSTED_PROXY_HOPS`): see ``clientAddress``.
    public var trustedProxyHops: Int

    /// Creates a request; tests use this to call handlers without a socket.
    public init(
        method: HTTPRequest.Method,
        path: String,
        query: String? = nil,
        headers: HTTPFields = [:],
        body: Data = Data(),
        peerAddress: String? = nil,
        trustedProxyHops: Int = 1
    ) {
        self.method = method
        self.path = path.isEmpty ? "/" : path
        self.query = query
        self.headers = headers
        self.body = body
        self.peerAddress = peerAddress
        self.trustedProxyHops = trustedProxyHops
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

    /// The client address, in canonical form, as far as the proxies in front can be trusted.
    ///
    /// Each proxy appends the address it was connected from to `X-Forwarded-For`, so only the rightmost
    /// `trustedProxyHops` entries were written by someone trusted; everything left of them is the client's own
    /// text. With 0 hops (nothing in front) the address is the TCP peer's; with 1 (Cloud Run direct: its front
    /// end appends the client) the rightmost entry; with 2 (an external HTTPS load balancer appends
    /// `<client>,<balancer>`) the second from the right. Fewer entries than hops (a request that reached the
    /// service around the balancer) gives the leftmost; an entry that is not an IP address gives the peer.
    public var clientAddress: String? {
        guard trustedProxyHops > 0, let forwarded = headers[.xForwardedFor] else { return peerAddress }
        let entries = forwarded.split(separator: ",", omittingEmptySubsequences: false)
        let entry = entries[max(entries.count - trustedProxyHops, 0)]
        guard let address = IPAddress(entry.trimmingCharacters(in: .whitespaces)) else { return peerAddress }
        return address.description
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
