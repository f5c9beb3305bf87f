import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Tracing

/// Google-signed ID tokens for endpoints behind IAM (a private Cloud Run service), from the metadata server:
/// `GET http://<host>/computeMetadata/v1/instance/service-accounts/default/identity?audience=…` with
/// `Metadata-Flavor: Google`. One fetch per audience for the life of this value (a drain, or one publish's or
/// receive's first attempts): tokens are good for an hour, and nothing is kept between requests.
package final class IDTokens: Sendable {
    private let host: String?
    private let clients: ProviderClient
    private let fetched = Mutex<[String: Task<Result<String, DeliveryFailure>, Never>]>([:])

    /// The longest wait for the metadata server.
    static let timeout: Duration = .seconds(2)

    /// Tokens from the metadata server at `host` (nil: none, and endpoints are called without a token).
    package init(host: String?, clients: ProviderClient) {
        self.host = host
        self.clients = clients
    }

    /// The `Authorization` value for `audience`: `Bearer <token>`, nil where there is no metadata server, or
    /// ``DeliveryFailure/idToken`` when it did not answer with one.
    package func authorization(audience: String, logger: Logger) async -> Result<String?, DeliveryFailure> {
        guard let host else { return .success(nil) }
        let client = clients.client  // made on first use: drains without a private consumer never need it
        let tracer = clients.tracer
        let task = fetched.withLock { fetched in
            if let known = fetched[audience] { return known }
            let task = Task { await Self.fetch(host: host, audience: audience, client: client, tracer: tracer, logger: logger) }
            fetched[audience] = task
            return task
        }
        return await task.value.map { "Bearer " + $0 }
    }

    static func fetch(host: String, audience: String, client: HTTPClient, tracer: (any Tracer)?, logger: Logger) async -> Result<String, DeliveryFailure> {
        var query = URLComponents()
        query.queryItems = [URLQueryItem(name: "audience", value: audience)]
        let encoded = (query.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        var request = HTTPClientRequest(url: "http://\(host)/computeMetadata/v1/instance/service-accounts/default/identity?\(encoded)")
        request.headers.add(name: "Metadata-Flavor", value: "Google")
        do {
            let answer = try await BoundedExchange.execute(
                request, on: client, timeout: timeout, maxBodyBytes: 16 * 1024, tracer: tracer, logger: logger
            )
            let token = String(buffer: answer.body).trimmingCharacters(in: .whitespacesAndNewlines)
            // A JWT: three base64url parts. Anything else is not used as a credential.
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            guard answer.status == 200, parts.count == 3,
                token.utf8.allSatisfy({ $0 == 0x2E || $0 == 0x2D || $0 == 0x5F || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) })
            else {
                logger.warning("the metadata server gave no ID token", metadata: ["status": "\(answer.status)"])
                return .failure(.idToken)
            }
            return .success(token)
        } catch {
            logger.warning("the metadata server did not answer for an ID token: \(type(of: error))")
            return .failure(.idToken)
        }
    }
}
