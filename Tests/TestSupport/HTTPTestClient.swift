import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A minimal HTTP/1.1 client over a raw socket, so tests see exactly what goes over the wire.
public enum HTTPTestClient {
    /// A response as received.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// Header names lowercased.
        public var headers: [String: String]
        /// The body bytes.
        public var body: Data
        /// The body as UTF-8 text.
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends one request to 127.0.0.1:`port` and reads the whole response (`Connection: close`).
    public static func send(
        port: Int,
        method: String = "GET",
        path: String,
        headers: [(String, String)] = [],
        body: Data = Data(),
        chunked: Bool = false
    ) async throws -> Response {
        // Blocking socket work runs on its own thread, never on the cooperative pool (2 threads here).
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result { try sendBlocking(port: port, method: method, path: path, headers: headers, body: body, chunked: chunked) }
                )
            }.start()
        }
    }

    static func sendBlocking(
        port: Int,
        method: String,
        path: String,
        headers: [(String, String)],
        body: Data,
        chunked: Bool
    ) throws -> Response {
        let socket = try TCPSocket(port: port)
        defer { socket.close() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            var payload = Data(head.utf8)
            if !body.isEmpty { payload += Data((String(body.count, radix: 16) + "\r\n").utf8) + body + Data("\r\n".utf8) }
            payload += Data("0\r\n\r\n".utf8)
            try socket.write(payload)
        } else {
            if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
            head += "\r\n"
            try socket.write(Data(head.utf8) + body)
        }
        let raw = try socket.readAll()
        return try parse(raw)
    }

    static func parse(_ raw: Data) throws -> Response {
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else { throw URLError(.badServerResponse) }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw URLError(.badServerResponse) }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(raw[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: Data) -> Data {
        var out = Data()
        var rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = lineEnd.upperBound
            out += rest[start..<(start + size)]
            rest = rest[(start + size + 2)...]
        }
        return out
    }
}

/// A blocking loopback TCP socket.
final class TCPSocket {
    private let fd: Int32

    init(port: Int) throws {
        fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw URLError(.cannotConnectToHost) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw URLError(.cannotConnectToHost)
        }
    }

    func write(_ data: Data) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let sent = Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                // A signal (a child process of another test exiting) interrupts the call: try again.
                if sent < 0, errno == EINTR { continue }
                if sent <= 0 {
                    // The server may answer (413) and close before reading everything: stop writing, read the answer.
                    return
                }
                offset += sent
            }
        }
    }

    func readAll() throws -> Data {
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.recv(fd, &buffer, buffer.count, 0)
            // Interrupted by a signal (a child process of another test exiting), not the end of the answer.
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            out.append(contentsOf: buffer[0..<count])
        }
        return out
    }

    func close() { Glibc.close(fd) }
}
