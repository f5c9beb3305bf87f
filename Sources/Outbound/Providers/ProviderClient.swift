public import AsyncHTTPClient
public import ServiceLifecycle
import Synchronization

/// The one HTTP client for the providers (Mailgun, SendGrid, Slack, Sentry): one per process, a service in the
/// process's service group that shuts the client down on SIGTERM. The client is made on first use (the console
/// email backend never needs one); each call passes its own deadline. Redirects are never followed.
public final class ProviderClient: Service, Sendable {
    private let made = Mutex<HTTPClient?>(nil)
    private let shutDown = Mutex(false)

    /// A client that connects on first use.
    public init() {}

    /// The shared client.
    package var client: HTTPClient {
        made.withLock { made in
            if let made { return made }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10)))
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
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
        let client = made.withLock { $0 }
        guard let client, shutDown.withLock({ done in defer { done = true }; return !done }) else { return }
        try? await client.shutdown()
    }
}
