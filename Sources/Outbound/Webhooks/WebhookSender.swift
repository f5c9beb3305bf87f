import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOPosix
import Primitives
import Synchronization

/// Sends one signed webhook request and reports what happened, connecting only to vetted addresses.
///
/// The URL is parsed once, as AsyncHTTPClient parses it (`URL`, whose host is already punycode for an IDN), the
/// host resolved here, every address checked by ``SSRFGuard``, and the request pinned to a vetted address
/// (``PinnedClients``). Redirects are never followed. One attempt's timeout covers connecting, TLS, the head and the
/// whole body (``BoundedExchange``); 1 KiB of the body is kept, stored safely (``PartnerText``). A sender is made
/// per drain (or publish): it resolves each URL once and shares the process's pinned clients.
package struct WebhookSender: Sendable {
    /// The outcome of one attempt.
    package struct Result: Sendable {
        package var statusCode: Int?
        package var responseBody: String?
        package var failure: DeliveryFailure?
        package var retryAfter: TimeInterval?
        package var duration: Duration

        /// Creates a value from its fields.
        package init(
            statusCode: Int? = nil,
            responseBody: String? = nil,
            failure: DeliveryFailure? = nil,
            retryAfter: TimeInterval? = nil,
            duration: Duration
        ) {
            self.statusCode = statusCode
            self.responseBody = responseBody
            self.failure = failure
            self.retryAfter = retryAfter
            self.duration = duration
        }

        package var succeeded: Bool { failure == nil && (statusCode.map { (200..<300).contains($0) } ?? false) }
    }

    /// The most of a response body that is kept.
    package static let keptBodyBytes = 1024

    private let targets = TargetCache()
    let pinned: PinnedClients
    let allowPrivateTargets: Bool

    /// A sender over the process's pinned clients.
    package init(clients: ProviderClient, allowPrivateTargets: Bool) {
        self.pinned = clients.pinned
        self.allowPrivateTargets = allowPrivateTargets
    }

    /// Posts `body` to `url` with `headers`; the whole exchange ends within `timeout`.
    package func send(url: String, headers: [(String, String)], body: Data, timeout: Duration, logger: Logger) async -> Result {
        let started = ContinuousClock.now
        func finish(_ status: Int? = nil, body: String? = nil, failure: DeliveryFailure? = nil, retryAfter: TimeInterval? = nil) -> Result {
            Result(statusCode: status, responseBody: body, failure: failure, retryAfter: retryAfter, duration: ContinuousClock.now - started)
        }
        let target: Target
        switch await targets.target(for: url) {
        case .success(let resolved): target = resolved
        case .failure(let failure): return finish(failure: failure.kind)
        }
        guard let address = target.addresses.first else { return finish(failure: .dns) }
        if !allowPrivateTargets, target.addresses.contains(where: SSRFGuard.isBlocked) { return finish(failure: .ssrfBlocked) }
        let client = pinned.client(host: target.host, address: address)
        var request = HTTPClientRequest(url: target.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "swift-cloud-run-functions-webhooks/1")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(data: body))
        do {
            let remaining = timeout - (ContinuousClock.now - started)
            let answer = try await BoundedExchange.execute(
                request, on: client, timeout: remaining, maxBodyBytes: Self.keptBodyBytes, tracer: pinned.tracer, logger: logger
            )
            let text = PartnerText.stored(answer.body.readableBytesView, maxBytes: Self.keptBodyBytes)
            let retryAfter = answer.headers.first(name: "Retry-After").flatMap(TimeInterval.init)
            let ok = (200..<300).contains(answer.status)
            return finish(answer.status, body: text, failure: ok ? nil : .httpStatus, retryAfter: retryAfter)
        } catch {
            return finish(failure: Self.failure(of: error))
        }
    }

    /// How a thrown error is recorded.
    package static func failure(of error: any Error) -> DeliveryFailure {
        if error is BoundedExchange.DeadlineExceeded || error is CancellationError { return .timeout }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .readTimeout, .deadlineExceeded, .writeTimeout: return .timeout
            case .remoteConnectionClosed: return .connect
            default: break
            }
        }
        let text = String(describing: error)
        if text.contains("NIOSSL") || text.contains("TLS") || text.contains("SSL") || text.contains("certificate") { return .tls }
        if text.contains("timeout") || text.contains("Timeout") { return .timeout }
        return .connect
    }

    /// `text` parsed as AsyncHTTPClient parses a request's URL (Foundation's `URL`, whose `host` is punycode for an
    /// IDN name and has no brackets for an IPv6 literal): the host that is resolved, vetted and pinned is the one the
    /// client connects to. Only http(s) with a host.
    package static func parseTarget(_ text: String) -> Swift.Result<(url: URL, host: String), DeliveryFailure> {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = url.host, !host.isEmpty, host.unicodeScalars.allSatisfy(\.isASCII)
        else { return .failure(.invalidURL) }
        return .success((url, host))
    }

    /// Where one endpoint URL leads: the parsed URL, its host (punycode, as the client connects to it) and the
    /// addresses it resolved to.
    struct Target: Sendable {
        var url: URL
        var host: String
        var addresses: [String]
    }

    /// Why a URL has no target.
    struct TargetFailure: Error, Sendable {
        var kind: DeliveryFailure
    }

    /// Each URL's target, resolved once per sender (a failed lookup is tried again by the next send).
    final class TargetCache: Sendable {
        private let targets = Mutex<[String: Swift.Result<Target, TargetFailure>]>([:])

        func target(for url: String) async -> Swift.Result<Target, TargetFailure> {
            if let known = targets.withLock({ $0[url] }) { return known }
            let resolved = await Self.resolve(url)
            // A failed lookup may be passing: only what cannot change within a drain is kept.
            if case .failure(let failure) = resolved, failure.kind == .dns { return resolved }
            targets.withLock { $0[url] = resolved }
            return resolved
        }

        /// Parses `text` as the HTTP client does and resolves its host.
        static func resolve(_ text: String) async -> Swift.Result<Target, TargetFailure> {
            let url: URL
            let host: String
            switch WebhookSender.parseTarget(text) {
            case .success(let parsed): (url, host) = parsed
            case .failure(let failure): return .failure(TargetFailure(kind: failure))
            }
            // An address literal needs no lookup (and no hop to the resolver's threads).
            if SSRFGuard.isAddressLiteral(host) { return .success(Target(url: url, host: host, addresses: SSRFGuard.resolve(host))) }
            do {
                let addresses = try await NIOThreadPool.singleton.runIfActive { SSRFGuard.resolve(host) }
                return addresses.isEmpty
                    ? .failure(TargetFailure(kind: .dns)) : .success(Target(url: url, host: host, addresses: addresses))
            } catch {
                return .failure(TargetFailure(kind: .dns))
            }
        }
    }
}
