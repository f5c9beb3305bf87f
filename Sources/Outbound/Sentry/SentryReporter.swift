import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import Primitives
public import ServiceLifecycle

/// Sends unexpected errors to Sentry as envelopes, without its SDK, from an allow-list: error type, scrubbed
/// message, service, revision, release, environment, request id, function. Never request bodies, cookies,
/// query strings, emails or other PHI.
///
/// `report` only queues (a bounded buffer; full means the event is dropped), so a request never waits on
/// Sentry; the service sends with a short timeout and honours 429 `Retry-After`.
public final class SentryReporter: Service {
    /// A parsed DSN: `https://KEY@HOST/PROJECT`.
    public struct DSN: Sendable, Equatable {
        /// The public key.
        public var key: String
        /// Where envelopes go.
        public var envelopeURL: String
        /// The DSN as configured (sent in the envelope header).
        public var text: String

        /// Parses a DSN; nil when it is not one.
        public init?(_ text: String) {
            guard let components = URLComponents(string: text), let scheme = components.scheme, scheme == "https" || scheme == "http",
                let key = components.user, !key.isEmpty, let host = components.host, !host.isEmpty
            else { return nil }
            let project = components.path.split(separator: "/").last.map(String.init) ?? ""
            guard !project.isEmpty, project.allSatisfy(\.isNumber) else { return nil }
            let port = components.port.map { ":\($0)" } ?? ""
            let prefix = components.path.split(separator: "/").dropLast().map { "/" + $0 }.joined()
            self.key = key
            self.envelopeURL = "\(scheme)://\(host)\(port)\(prefix)/api/\(project)/envelope/"
            self.text = text
        }
    }

    /// Fixed facts about this process.
    public struct Facts: Sendable {
        /// `SENTRY_RELEASE`.
        public var release: String?
        /// `ENVIRONMENT`.
        public var environment: String?
        /// `K_SERVICE`.
        public var service: String?
        /// `K_REVISION`.
        public var revision: String?

        /// Creates the facts.
        public init(release: String?, environment: String?, service: String?, revision: String?) {
            self.release = release
            self.environment = environment
            self.service = service
            self.revision = revision
        }
    }

    private let dsn: DSN
    private let facts: Facts
    private let stream: AsyncStream<Data>
    private let continuation: AsyncStream<Data>.Continuation
    private let logger: Logger
    private let providers: ProviderClient

    /// A reporter for `dsn`, sending through the process's provider client.
    public init(dsn: DSN, facts: Facts, providers: ProviderClient, logger: Logger) {
        self.dsn = dsn
        self.providers = providers
        self.facts = facts
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: Data.self, bufferingPolicy: .bufferingNewest(100))
    }

    /// Queues one event (never blocks).
    public func report(_ error: any Error, requestID: String, function: String?, traceID: String?) {
        continuation.yield(envelope(for: error, requestID: requestID, function: function, traceID: traceID))
    }

    /// The envelope for an error: header, item header, event, one JSON line each.
    package func envelope(for error: any Error, requestID: String, function: String?, traceID: String?) -> Data {
        let eventID = UUID.random().compactHex
        let now = Date()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var tags: [String: String] = ["request_id": requestID]
        if let function { tags["function"] = function }
        if let service = facts.service { tags["service"] = service }
        if let revision = facts.revision { tags["revision"] = revision }
        if let traceID { tags["trace_id"] = traceID }
        let event = SentryEnvelope.Event(
            eventID: eventID, timestamp: now.timeIntervalSince1970, serverName: facts.service ?? "functions", release: facts.release,
            environment: facts.environment, tags: tags,
            exception: .init(values: [.init(type: String(describing: type(of: error)), value: PHIScrubber.scrub(String(describing: error)))])
        )
        let header = SentryEnvelope.Header(eventID: eventID, sentAt: formatter.string(from: now), dsn: dsn.text)
        let encoder = JSONEncoder.stable
        var out = Data()
        for line in [try? encoder.encode(header), try? encoder.encode(SentryEnvelope.Item()), try? encoder.encode(event)] {
            out.append(line ?? Data("{}".utf8))
            out.append(0x0A)
        }
        return out
    }

    /// Sends queued events until shutdown.
    public func run() async throws {
        let client = providers.client
        var pausedUntil = ContinuousClock.now
        await withGracefulShutdownHandler {
            for await envelope in stream {
                guard ContinuousClock.now >= pausedUntil else { continue }
                var request = HTTPClientRequest(url: dsn.envelopeURL)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-sentry-envelope")
                request.headers.add(
                    name: "X-Sentry-Auth", value: "Sentry sentry_version=7, sentry_key=\(dsn.key), sentry_client=swift-cloud-run-functions/1.0"
                )
                request.body = .bytes(ByteBuffer(data: envelope))
                do {
                    let response = try await client.execute(request, timeout: .seconds(5), logger: logger)
                    if response.status.code == 429 {
                        let wait = response.headers.first(name: "Retry-After").flatMap(Int.init) ?? 60
                        pausedUntil = ContinuousClock.now + .seconds(min(wait, 3600))
                    }
                    _ = try? await response.body.collect(upTo: 64 * 1024)
                } catch {
                    logger.warning("could not send an error to Sentry", metadata: ["error_type": "\(type(of: error))"])
                }
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }
}
