import AsyncHTTPClient
import Synchronization
import Tracing

/// HTTP clients for webhook targets, one per host and vetted address: each connects only to the address it is
/// pinned to (`dnsOverride`; TLS keeps the host name for SNI and certificate checks) and never follows a redirect.
/// Kept for the life of the process so connections are reused across drains and publishes; closed with the
/// ``ProviderClient`` that owns them. Deadlines are per call (``BoundedExchange``), so none is configured here.
///
/// The drains bound what is in flight (per drain, per endpoint); the client adds no bound of its own below theirs.
/// An attempt's timeout starts before the client has a connection for it, so a per-host connection limit would make
/// a slow endpoint's attempts spend a healthy endpoint's timeouts on the same host (two endpoints of one partner, or
/// overlapping drains and first attempts in one instance): they would wait in the client's queue and time out.
package final class PinnedClients: Sendable {
    /// Connections per host and address: above what the drains and first attempts of one instance hold at once.
    static let connectionsPerHost = 4096

    private let clients = Mutex<[String: HTTPClient]>([:])
    private let closed = Mutex(false)

    /// The tracer of the ``ProviderClient`` these belong to.
    package let tracer: (any Tracer)?

    init(tracer: (any Tracer)?) { self.tracer = tracer }

    /// The client for `host` pinned to `address` (made on first use).
    package func client(host: String, address: String) -> HTTPClient {
        clients.withLock { clients in
            let key = host + "|" + address
            if let existing = clients[key] { return existing }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)))
            if host != address { configuration.dnsOverride = [host: address] }
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.connectionsPerHost)
            configuration.tracing.tracer = nil  // BoundedExchange makes the spans, without the URL
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    /// Closes every client.
    func shutdown() async {
        let all = clients.withLock { clients in
            defer { clients = [:] }
            return Array(clients.values)
        }
        for client in all { try? await client.shutdown() }
    }
}
