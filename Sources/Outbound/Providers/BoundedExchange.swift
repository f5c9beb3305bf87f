import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Primitives
import Tracing
import Traces

/// One request and its answer under one deadline that covers everything: connecting, TLS, sending, the response
/// head and the whole body. AsyncHTTPClient's own deadline stops at the head, so a partner that answers at once
/// and then trickles its body one byte every few seconds would otherwise hold the attempt (and its lease) for
/// as long as it likes. Only the first `maxBodyBytes` of the body are kept; the rest is not read.
///
/// The exchange runs as a task that a timer on the client's event loop cancels at the deadline (cancellation ends
/// AsyncHTTPClient's request and its body stream at once). An event-loop timer is cancelled cheaply when the
/// exchange ends first, unlike a sleeping task per request, whose timer lives on until it fires.
package enum BoundedExchange {
    /// The answer: status, headers and the kept part of the body.
    package struct Answer: Sendable {
        package var status: Int
        package var headers: HTTPHeaders
        package var body: ByteBuffer
    }

    /// The deadline passed before the exchange ended.
    package struct DeadlineExceeded: Error, CustomStringConvertible {
        package var description: String { "deadline exceeded (timeout)" }
    }

    /// Executes `request` on `client`; throws ``DeadlineExceeded`` when `timeout` passes first.
    ///
    /// With a tracer, the exchange is a client span and the request carries its `traceparent`. The span names the
    /// method, scheme, host, port and status, never the path or the query: a Slack webhook's path is its secret, and
    /// partners put tokens in query strings. (AsyncHTTPClient's own spans record the whole URL, so the clients
    /// are made with its tracing off; see ``ProviderClient``.)
    package static func execute(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: Duration, maxBodyBytes: Int, tracer: (any Tracer)?,
        logger: Logger
    ) async throws -> Answer {
        guard let tracer else { return try await execute(request, on: client, timeout: timeout, maxBodyBytes: maxBodyBytes, logger: logger) }
        return try await Spans.run(tracer, request.method.rawValue, kind: .client, withinTrace: true) { span in
            var request = request
            if let span {
                let url = URL(string: request.url)
                span.attributes["http.request.method"] = request.method.rawValue
                span.attributes["url.scheme"] = url?.scheme
                span.attributes["server.address"] = url?.host
                span.attributes["server.port"] = Int64(url?.port ?? (url?.scheme == "https" ? 443 : 80))
                for (name, value) in Spans.headers(for: span.context, tracer: tracer) { request.headers.replaceOrAdd(name: name, value: value) }
            }
            let answer = try await execute(request, on: client, timeout: timeout, maxBodyBytes: maxBodyBytes, logger: logger)
            span?.attributes["http.response.status_code"] = Int64(answer.status)
            if answer.status >= 500 { span?.setStatus(SpanStatus(code: .error)) }
            return answer
        }
    }

    private static func execute(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: Duration, maxBodyBytes: Int, logger: Logger
    ) async throws -> Answer {
        guard timeout > .zero else { throw DeadlineExceeded() }
        let deadline = NIODeadline.now() + .nanoseconds(timeout.wholeNanoseconds)
        let exchange = Task {
            let response = try await client.execute(request, deadline: deadline, logger: logger)
            var kept = ByteBuffer()
            for try await chunk in response.body {
                let room = maxBodyBytes - kept.readableBytes
                if room > 0, let slice = chunk.getSlice(at: chunk.readerIndex, length: min(chunk.readableBytes, room)) {
                    kept.writeImmutableBuffer(slice)
                }
                if kept.readableBytes >= maxBodyBytes { break }
            }
            return Answer(status: Int(response.status.code), headers: response.headers, body: kept)
        }
        let timer = client.eventLoopGroup.any().scheduleTask(deadline: deadline) { exchange.cancel() }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler { try await exchange.value } onCancel: { exchange.cancel() }
        } catch {
            if NIODeadline.now() >= deadline { throw DeadlineExceeded() }
            throw error
        }
    }
}
