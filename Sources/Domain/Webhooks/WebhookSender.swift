import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Sends one signed webhook request and reports what happened, connecting only to vetted addresses.
///
/// The host is resolved here, every address checked by ``SSRFGuard``, and the request pinned to a vetted
/// address with AsyncHTTPClient's `dnsOverride` (TLS keeps the host name for SNI and certificate checks).
/// Redirects are never followed. One client per target host per drain, sharing the process's event loops.
final class WebhookSender: Sendable {
    /// The outcome of one attempt.
    struct Result: Sendable {
        var statusCode: Int?
        var responseBody: String?
        var errorKind: String?
        var retryAfter: TimeInterval?
        var duration: Duration

        var succeeded: Bool { errorKind == nil && (statusCode.map { (200..<300).contains($0) } ?? false) }
    }

    private let clients = ClientCache()
    let allowPrivateTargets: Bool
    let timeout: Duration

    init(allowPrivateTargets: Bool, timeout: Duration) {
        self.allowPrivateTargets = allowPrivateTargets
        self.timeout = timeout
    }

    /// Posts `body` to `url` with `headers`.
    func send(url: String, headers: [(String, String)], body: Data, logger: Logger) async -> Result {
        let started = ContinuousClock.now
        func finish(_ status: Int? = nil, body: String? = nil, error: String? = nil, retryAfter: TimeInterval? = nil) -> Result {
            Result(statusCode: status, responseBody: body, errorKind: error, retryAfter: retryAfter, duration: ContinuousClock.now - started)
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty
        else { return finish(error: "invalid_url") }
        let addresses: [String]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { SSRFGuard.resolve(host) }
        } catch {
            return finish(error: "dns")
        }
        guard let address = addresses.first else { return finish(error: "dns") }
        if !allowPrivateTargets, addresses.contains(where: SSRFGuard.isBlocked) { return finish(error: "ssrf_blocked") }
        let client = clients.client(host: host, address: address, timeout: timeout)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "swift-cloud-run-functions-webhooks/1")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(data: body))
        do {
            let response = try await client.execute(request, timeout: .init(timeout), logger: logger)
            var collected = ByteBuffer()
            for try await chunk in response.body {
                collected.writeImmutableBuffer(chunk.getSlice(at: chunk.readerIndex, length: min(chunk.readableBytes, 4096 - collected.readableBytes)) ?? ByteBuffer())
                if collected.readableBytes >= 4096 { break }
            }
            let text = String(buffer: collected)
            let retryAfter = response.headers.first(name: "Retry-After").flatMap(TimeInterval.init)
            let status = Int(response.status.code)
            return finish(status, body: text, error: (200..<300).contains(status) ? nil : "http_status", retryAfter: retryAfter)
        } catch {
            return finish(error: Self.kind(of: error))
        }
    }

    /// Closes every client made during a drain.
    func shutdown() async {
        for client in clients.takeAll() { try? await client.shutdown() }
    }

    static func kind(of error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout: return "timeout"
            case .remoteConnectionClosed: return "connect"
            default: break
            }
            if "\(error)".contains("TLS") || "\(error)".contains("SSL") { return "tls" }
        }
        let text = String(describing: error)
        if text.contains("NIOSSL") || text.contains("TLS") || text.contains("SSL") || text.contains("certificate") { return "tls" }
        if text.contains("timeout") || text.contains("Timeout") || error is CancellationError { return "timeout" }
        return "connect"
    }
}

/// Clients by host and pinned address, made on first use within a drain.
final class ClientCache: Sendable {
    private let clients = Mutex<[String: HTTPClient]>([:])

    func client(host: String, address: String, timeout: Duration) -> HTTPClient {
        clients.withLock { clients in
            let key = host + "|" + address
            if let existing = clients[key] { return existing }
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow,
                timeout: .init(connect: .seconds(10), read: .init(timeout))
            )
            if host != address { configuration.dnsOverride = [host: address] }
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    func takeAll() -> [HTTPClient] {
        clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
    }
}
