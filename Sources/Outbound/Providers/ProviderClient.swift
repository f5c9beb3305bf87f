public import AsyncHTTPClient
public import ServiceLifecycle
import Synchronization
public import Tracing

/// The process's outgoing HTTP: one client for the providers (Mailgun, SendGrid, Slack, Sentry) and the pinned
/// clients for webhook targets (``PinnedClients``). One per process, a service in the process's service group that
/// shuts every client down on SIGTERM. Clients are made on first use (the console email backend never needs one);
/// each call passes its own deadline. Redirects are never followed.
public final class ProviderClient: Service, Sendable {
    private let made = Mutex<HTTPClient?>(nil)
    private let shutDown = Mutex(false)
    /// Clients for webhook targets, each pinned to a vetted address.
    package let pinned: PinnedClients
    /// Makes a client span per exchange and propagates `traceparent` (nil: tracing off).
    package let tracer: (any Tracer)?

    /// A client that connects on first use.
    public init(tracer: (any Tracer)? = nil) {
        self.tracer = tracer
        self.pinned = PinnedClients(tracer: tracer)
    }

    /// The shared client.
    package var client: HTTPClient {
        made.withLock { made in
            if let made { return made }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)))
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
            // Spans are made by BoundedExchange, without the URL; AsyncHTTPClient's own would record it whole.
            configuration.tracing.tracer = nil
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            made = client
            return client
        }
    }

    /// Lives until the service group shuts down, then closes the client's connections.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes the client, once (for commands and tests that run no service group).
    public func shutdown() async {
        guard shutDown.withLock({ done in defer { done = true }; return !done }) else { return }
        await pinned.shutdown()
        if let client = made.withLock({ $0 }) { try? await client.shutdown() }
    }
}
