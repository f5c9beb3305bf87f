import Domain
import Foundation
import Logging
import PostgresNIO
import Runtime
import Store
import TestSupport

@testable import Functions

/// webhook-receive and webhook-dispatch over a real database, through the invoker the server uses.
struct WebhookHarness: Sendable {
    let database: Database
    let clock: TestClock
    let encryption: FieldEncryption
    let settings: WebhookSettings
    let dispatcher: WebhookDispatcher
    let invoker: FunctionInvoker
    static let fernetKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

    init(database: Database, settings: WebhookSettings = .testing, realDataMode: Bool = false) throws {
        self.database = database
        let clock = TestClock()
        self.clock = clock
        self.settings = settings
        self.encryption = try FieldEncryption(key: Self.fernetKey, realDataMode: realDataMode)
        self.dispatcher = WebhookDispatcher(database: database, encryption: encryption, settings: settings, clients: .forTests, clock: clock.clock)
        var logger = Logger(label: "webhook-test")
        logger.logLevel = .critical
        self.invoker = FunctionInvoker(
            registry: try FunctionRegistry(
                functions: [
                    WebhookReceive(
                        receiver: WebhookReceiver(database: database, encryption: encryption, dispatcher: dispatcher, clock: clock.clock),
                        maxBodyBytes: settings.maxReceiveBytes
                    ),
                    WebhookDispatch(dispatcher: dispatcher, rejections: RejectedEvents(database: database), access: PrivateAccess(token: nil)),
                ],
                target: nil
            ),
            logger: logger,
            errorMapper: Answers.error(for:)
        )
    }

    var logger: Logger { TestDatabase.quietLogger }

    /// Runs `body` with a harness over a database of its own: drains take every due delivery, so tests must not
    /// share a queue.
    static func withOwnDatabase(
        _ prefix: String, settings: WebhookSettings, realDataMode: Bool = false, _ body: @escaping @Sendable (WebhookHarness) async throws -> Void
    ) async throws {
        try await TestDatabase.with(suite: "\(prefix)-\(UUID().uuidString.prefix(8))") { database in
            try await body(try WebhookHarness(database: database, settings: settings, realDataMode: realDataMode))
        }
    }

    /// A new source with a unique slug; returns slug and secret.
    func addSource(scheme: WebhookSource.Scheme = .standard, allow: [String] = [], secret: String? = nil) async throws -> (String, String) {
        let slug = "src-\(UInt32.random(in: 0...UInt32.max))"
        let secret = secret ?? WebhookSignature.newSecret()
        let encryption = self.encryption
        let logger = self.logger
        _ = try await database.withConnection { connection in
            try await WebhookSourceStore(encryption: encryption).add(
                slug: slug, scheme: scheme, secret: secret, allowedEventTypes: allow, on: connection, logger: logger
            )
        }
        return (slug, secret)
    }

    /// A new endpoint; returns id and secret.
    func addEndpoint(url: String, types: [String]) async throws -> (UUID, String) {
        let encryption = self.encryption
        let logger = self.logger
        let added = try await database.withConnection { connection in
            try await WebhookEndpointStore(encryption: encryption).add(url: url, eventTypes: types, description: "test", on: connection, logger: logger)
        }
        return (added.id, added.secret)
    }

    /// A new consumer of source `slug`'s received events; returns id and secret.
    func addConsumer(source slug: String, url: String, types: [String] = ["*"], audience: String? = nil) async throws -> (UUID, String) {
        let encryption = self.encryption
        let logger = self.logger
        let added = try await database.withConnection { connection in
            guard let source = try await WebhookSourceStore(encryption: encryption).find(slug: slug, on: connection, logger: logger) else {
                throw CancellationError()
            }
            return try await WebhookEndpointStore(encryption: encryption).add(
                url: url, eventTypes: types, description: "consumer", sourceID: source.id, idTokenAudience: audience, on: connection, logger: logger
            )
        }
        return (added.id, added.secret)
    }

    /// Posts a Standard-Webhooks-signed body to `/webhook-receive/<slug>`.
    func receive(slug: String, secret: String, body: String, id: String = "msg_\(UUID().uuidString)", timestamp: Int64? = nil, extra: HTTPFields = [:])
        async -> FunctionResponse
    {
        let timestamp = timestamp ?? clock.clock.unixSeconds()
        var headers = extra
        headers[HTTPField.Name("webhook-id")!] = id
        headers[HTTPField.Name("webhook-timestamp")!] = String(timestamp)
        headers[HTTPField.Name("webhook-signature")!] = WebhookSignature.standard(id: id, timestamp: timestamp, body: Data(body.utf8), secret: secret)
        headers[.contentType] = "application/json"
        return await invoker.invoke(FunctionRequest(method: .post, path: "/webhook-receive/\(slug)", headers: headers, body: Data(body.utf8)))
    }

    /// Publishes through `POST /webhook-dispatch/events`.
    func publish(_ json: String, headers: HTTPFields = [.contentType: "application/json"]) async -> FunctionResponse {
        await invoker.invoke(FunctionRequest(method: .post, path: "/webhook-dispatch/events", headers: headers, body: Data(json.utf8)))
    }

    /// Drains with the injected clock.
    func drain() async throws -> DrainReport {
        try await dispatcher.drain(budget: .seconds(20), logger: logger)
    }

    /// The attempts of one delivery, in order: (attempt, status, error kind).
    func attempts(endpoint: UUID) async throws -> [(Int, Int?, String?)] {
        let logger = self.logger
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT a.attempt, a.status_code, a.error_kind FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
                WHERE d.endpoint_id = \(endpoint) ORDER BY a.attempt
                """,
                logger: logger
            )
            var out: [(Int, Int?, String?)] = []
            for try await row in rows.decode((Int, Int?, String?).self) { out.append(row) }
            return out
        }
    }

    /// A delivery's status and next attempt time, for the endpoint's only delivery.
    func delivery(endpoint: UUID) async throws -> (status: String, attempts: Int, next: Date) {
        let logger = self.logger
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                "SELECT status, attempts, next_attempt_at FROM webhook_deliveries WHERE endpoint_id = \(endpoint)", logger: logger
            )
            for try await row in rows.decode((String, Int, Date).self) { return (row.0, row.1, row.2) }
            return ("none", 0, Date.distantPast)
        }
    }

    func endpoint(_ id: UUID) async throws -> WebhookEndpoint? {
        let encryption = self.encryption
        let logger = self.logger
        return try await database.withConnection { try await WebhookEndpointStore(encryption: encryption).find(id: id, on: $0, logger: logger) }
    }
}

extension WebhookSettings {
    /// Local targets allowed, plain http, short timeouts, no jitter. The lease is long: an attempt starts only
    /// while its claim's lease covers its timeout and a second to record it, and on a loaded parallel suite a
    /// lease of twice the timeout left too little of it (claims given back unattempted). Tests of lease expiry set
    /// their own.
    static var testing: WebhookSettings {
        var settings = WebhookSettings()
        settings.allowPrivateTargets = true
        settings.requireHTTPS = false
        settings.timeout = .seconds(2)
        settings.lease = .seconds(20)
        settings.schedule = RetrySchedule(jitter: 0)
        settings.immediateBudget = .zero
        settings.metadataHost = nil
        return settings
    }
}
