import Hummingbird
import NIOCore

/// The Hummingbird request context the shim uses: Hummingbird's core storage plus the peer address.
struct ShimRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peerAddress: String?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }
}
