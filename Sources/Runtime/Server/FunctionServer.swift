import Foundation
import Hummingbird
import HTTPTypes
public import Logging
import NIOCore
import NIOFoundationCompat
public import ServiceLifecycle

/// Builds the HTTP server (Hummingbird 2) that feeds requests to a ``FunctionInvoker``.
///
/// This is the only file that knows the server library: it converts Hummingbird's request and response to
/// the shim's own types, and enforces the body limit with a 413 before the body is read.
public enum FunctionServer {
    /// A service that serves `invoker` on `host:port`; `onListening` gets the bound port (useful with port 0).
    public static func make(
        invoker: FunctionInvoker,
        host: String,
        port: Int,
        maxBodyBytes: Int,
        trustedProxyHops: Int = 1,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        let responder = CallbackResponder<ShimRequestContext> { request, context in
            await respond(
                to: request, peerAddress: context.peerAddress, invoker: invoker, maxBodyBytes: maxBodyBytes, trustedProxyHops: trustedProxyHops
            )
        }
        return Application(
            responder: responder,
            configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// Reads the body up to the limit of the route it is for (so a request never costs more memory than its
    /// function allows, however many arrive at once), then invokes.
    static func respond(
        to request: Request, peerAddress: String?, invoker: FunctionInvoker, maxBodyBytes: Int, trustedProxyHops: Int = 1
    ) async -> Response {
        let limit = invoker.maxBodyBytes(method: request.method, path: request.uri.path, runtimeLimit: maxBodyBytes)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            return convert(HTTPError.payloadTooLarge(limit: limit).response, closing: true)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            return convert(HTTPError.payloadTooLarge(limit: limit).response, closing: true)
        }
        let functionRequest = FunctionRequest(
            method: request.method,
            path: request.uri.path,
            query: request.uri.query,
            headers: request.headers,
            body: Data(buffer: body, byteTransferStrategy: .noCopy),
            peerAddress: peerAddress,
            trustedProxyHops: trustedProxyHops
        )
        return convert(await invoker.invoke(functionRequest), closing: false)
    }

    static func convert(_ response: FunctionResponse, closing: Bool) -> Response {
        var headers = response.headers
        if closing { headers[.connection] = "close" }
        return Response(
            status: response.status,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(data: response.body))
        )
    }
}
