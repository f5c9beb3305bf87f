import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Synchronization

/// Sends one signed webhook request and reports what happened, connecting only to vetted addresses.
///
/// The host is resolved here, every address checked by ``SSRFGuard``, and the request pinned to a vetted
/// address with AsyncHTTPClient's `dnsOverride` (TLS keeps the host name for SNI and certificate checks).
/// Redirects are never followed. One client per target host per drain, sharing the process's event loops.
package final class WebhookSender: Sendable {
    /// The outcome of one attempt.
    package struct Result: Sendable {
        package var statusCode: Int?
        package var responseBody: String?
        package var errorKind: String?
        package var retryAfter: TimeInterval?
        package var duration: Duration

        /// Creates a value from its fields.
        package init(
            statusCode: Int? = nil,
            responseBody: String? = nil,
            errorKind: String? = nil,
            retryAfter: TimeInterval? = nil,
            duration: Duration
        ) {
            self.statusCode = statusCode
            self.responseBody = responseBody
            self.errorKind = errorKind
            self.retryAfter = retryAfter
            self.duration = duration
        }

        package var succeeded: Bool { errorKind == nil && (statusCode.map { (200..<300).contains($0) } ?? false) }
    }

    private let clients = ClientCache()
    let allowPrivateTargets: Bool
    let timeout: Duration

    package init(allowPrivateTargets: Bool, timeout: Duration) {
        self.allowPrivateTargets = allowPrivateTargets
        self.timeout = timeout
    }

    /// Posts `body` to `url` with `headers`.
    package func send(url: String, headers: [(String, String)], body: Data, logger: Logger) async -> Result {
        let started = ContinuousClock.now
        func finish(_ status: Int? = nil, body: String? = nil, error: String? = nil, retryAfter: TimeInterval? = nil) -> Result {
            Result(statusCode: status, responseBody: body, errorKind: error, retryAfter: retryAfter, duration: ContinuousClock.now - started)
        }
        let target: Target
        switch await clients.target(for: url) {
        case .success(let resolved): target = resolved
        case .failure(let failure): return finish(error: failure.kind)
        }
        guard let address = target.addresses.first else { return finish(error: "dns") }
        if !allowPrivateTargets, target.addresses.contains(where: SSRFGuard.isBlocked) { return finish(error: "ssrf_blocked") }
        let host = target.host
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
    package func shutdown() async {
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

/// Where one endpoint URL leads: its host and the addresses it resolved to.
package struct Target: Sendable {
    var host: String
    var addresses: [String]
}

/// Why a URL has no target: `invalid_url` or `dns`.
package struct TargetFailure: Error, Sendable {
    var kind: String
}

/// What one drain has learned about its targets: clients by host and pinned address, made on first use, and
/// each URL's host and addresses, resolved once per drain instead of once per delivery (a failed lookup is tried
/// again by the next send). Every address is still checked by ``SSRFGuard`` before each send, and the client
/// connects only to the vetted address it is pinned to.
package final class ClientCache: Sendable {
    private let clients = Mutex<[String: HTTPClient]>([:])
    private let targets = Mutex<[String: Result<Target, TargetFailure>]>([:])

    /// The host and addresses of `url`, resolved on first use within the drain.
    func target(for url: String) async -> Result<Target, TargetFailure> {
        if let known = targets.withLock({ $0[url] }) { return known }
        let resolved = await Self.resolve(url)
        // A failed lookup may be passing: only what cannot change within a drain is kept.
        if case .failure(let failure) = resolved, failure.kind == "dns" { return resolved }
        targets.withLock { $0[url] = resolved }
        return resolved
    }

    private static func resolve(_ url: String) async -> Result<Target, TargetFailure> {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty
        else { return .failure(TargetFailure(kind: "invalid_url")) }
        // An address literal needs no lookup (and no hop to the resolver's threads).
        if SSRFGuard.isAddressLiteral(host) { return .success(Target(host: host, addresses: SSRFGuard.resolve(host))) }
        do {
            let addresses = try await NIOThreadPool.singleton.runIfActive { SSRFGuard.resolve(host) }
            return addresses.isEmpty ? .failure(TargetFailure(kind: "dns")) : .success(Target(host: host, addresses: addresses))
        } catch {
            return .failure(TargetFailure(kind: "dns"))
        }
    }

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
        targets.withLock { $0 = [:] }
        return clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
    }
}
