import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One request and its answer under one deadline that covers everything: connecting, TLS, sending, the response
/// head and the whole body. AsyncHTTPClient's own deadline stops at the head, so a partner that answers at once
/// and then trickles its body one byte every few seconds would otherwise hold the attempt (and its lease) for
/// as long as it likes. Only the first `maxBodyBytes` of the body are kept; the rest is not read.
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
    package static func execute(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: Duration, maxBodyBytes: Int, logger: Logger
    ) async throws -> Answer {
        guard timeout > .zero else { throw DeadlineExceeded() }
        return try await withThrowingTaskGroup(of: Answer?.self) { group in
            group.addTask {
                let response = try await client.execute(request, timeout: .init(timeout), logger: logger)
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
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else { throw DeadlineExceeded() }
            return answer
        }
    }
}
