import AsyncHTTPClient
import Domain
import Synchronization

/// An HTTP client made on first use (the console backend never needs one) and shut down by its owner.
package final class LazyHTTPClient: Sendable {
    private let made = Mutex<HTTPClient?>(nil)
    private let settings: AlertSettings

    package init(settings: AlertSettings) { self.settings = settings }

    var client: HTTPClient {
        made.withLock { made in
            if let made { return made }
            var configuration = HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .init(settings.timeout))
            )
            configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            made = client
            return client
        }
    }

    package func shutdown() async {
        if let client = made.withLock({ $0 }) { try? await client.shutdown() }
    }
}
