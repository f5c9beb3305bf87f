import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle
import Synchronization

/// A real HTTP server on 127.0.0.1 that records every request and answers as a test tells it to:
/// fail the first N, hang, redirect, 410, 429 with Retry-After.
public final class WebhookSink: Sendable {
    /// One recorded request.
    public struct Received: Sendable {
        /// The path.
        public var path: String
        /// Header values by lowercased name.
        public var headers: [String: String]
        /// The body.
        public var body: Data
    }

    /// What to answer.
    public struct Answer: Sendable {
        /// Status code.
        public var status: Int
        /// Extra headers.
        public var headers: [String: String] = [:]
        /// Wait this long before answering.
        public var delay: Duration = .zero
        /// Body text.
        public var body: String = "ok"
        /// Body bytes (NUL, invalid UTF-8, megabytes), instead of `body`.
        public var bytes: Data?
        /// When set, the head goes out at once and the body one byte at a time, this long apart (a trickling partner;
        /// a long interval is a partner that hangs after the head).
        public var trickle: Duration?

        /// Creates an answer.
        public init(
            status: Int, headers: [String: String] = [:], delay: Duration = .zero, body: String = "ok", bytes: Data? = nil, trickle: Duration? = nil
        ) {
            self.status = status
            self.headers = headers
            self.delay = delay
            self.body = body
            self.bytes = bytes
            self.trickle = trickle
        }
    }

    private let received = Mutex<[Received]>([])
    private let behaviour: @Sendable (Int, Received) -> Answer
    /// The port it listens on (after ``run(_:)`` starts).
    public let port = Mutex<Int>(0)

    /// A sink answering with `behaviour(n, request)` for the n-th request (0-based).
    public init(_ behaviour: @escaping @Sendable (Int, Received) -> Answer = { _, _ in Answer(status: 200) }) {
        self.behaviour = behaviour
    }

    /// Everything received so far.
    public var requests: [Received] { received.withLock { $0 } }

    /// Runs the sink for the duration of `body`, passing its base URL.
    public func run<T: Sendable>(_ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let responder = CallbackResponder<BasicRequestContext> { [self] request, _ in
            var request = request
            let bytes = try await request.collectBody(upTo: 10 * 1024 * 1024)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let entry = Received(path: request.uri.path, headers: headers, body: Data(buffer: bytes))
            let index = received.withLock { list in
                list.append(entry)
                return list.count - 1
            }
            let answer = behaviour(index, entry)
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            var responseHeaders = HTTPFields()
            for (name, value) in answer.headers { responseHeaders[HTTPField.Name(name)!] = value }
            let content = answer.bytes ?? Data(answer.body.utf8)
            guard let interval = answer.trickle else {
                return Response(status: .init(code: answer.status), headers: responseHeaders, body: .init(byteBuffer: ByteBuffer(data: content)))
            }
            return Response(
                status: .init(code: answer.status), headers: responseHeaders,
                body: ResponseBody(contentLength: content.count) { writer in
                    for byte in content {
                        try await writer.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: interval)
                    }
                    try await writer.finish(nil)
                }
            )
        }
        var logger = Logger(label: "sink")
        logger.logLevel = .critical
        let app = Application(
            responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger
        )
        let group = ServiceGroup(services: [app], logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            self.port.withLock { $0 = port }
            defer { tasks.cancelAll() }
            let result = try await body("http://127.0.0.1:\(port)")
            await group.triggerGracefulShutdown()
            return result
        }
    }
}
