import Domain
import Foundation
import Logging
import PostgresNIO
import Primitives
import Runtime
import Store
import TestSupport

@testable import Functions

/// login and refresh over a real database, called through the same invoker the server uses.
struct AuthHarness: Sendable {
    let database: Database
    let clock: TestClock
    let auth: AuthService
    let invoker: FunctionInvoker
    let settings: AuthSettings
    /// This harness's client address, so rate limits in parallel tests do not meet.
    /// (IPv6 counts per /64: each harness has its own /64, in canonical form.)
    let address = "2001:db8:\(String(UInt16.random(in: 1...UInt16.max), radix: 16)):\(String(UInt16.random(in: 1...UInt16.max), radix: 16))::1"

    static let password = "correct horse battery staple"

    init(database: Database, settings: AuthSettings = .testing, es256: ES256Keys? = nil, acceptHS256Until: Int64? = nil) throws {
        self.database = database
        self.settings = settings
        let clock = TestClock()
        self.clock = clock
        self.auth = AuthService(
            database: database, secretKey: testSecretKey, settings: settings, es256: es256, acceptHS256Until: acceptHS256Until, clock: clock.clock
        )
        var logger = Logger(label: "auth-test")
        logger.logLevel = .critical
        self.invoker = FunctionInvoker(
            registry: try FunctionRegistry(functions: [Login(auth: auth), Refresh(auth: auth)], target: nil),
            logger: logger,
            errorMapper: Answers.error(for:)
        )
    }

    /// A fresh user with a unique name and the standard password; returns it.
    func makeUser(active: Bool = true, iterations: Int? = nil, password: String = AuthHarness.password) async throws -> User {
        let username = "user-\(UUID().uuidString.prefix(12))"
        let hash = DjangoPasswordHasher(iterations: iterations ?? settings.hashIterations).hash(password)
        let now = clock.now
        return try await database.withTransaction { connection in
            var user = try await UserStore.create(
                username: username, email: "\(username)@example.com", passwordHash: hash, isStaff: false, now: now,
                on: connection, logger: TestDatabase.quietLogger
            )
            if !active {
                user = try await UserStore.setActive(username: username, false, on: connection, logger: TestDatabase.quietLogger) ?? user
            }
            return user
        }
    }

    /// POSTs JSON to `/<function><path>`.
    func post(_ function: String, _ path: String = "/", json: String, headers: HTTPFields = [:]) async -> FunctionResponse {
        var headers = headers
        headers[.contentType] = headers[.contentType] ?? "application/json"
        return await invoker.invoke(
            FunctionRequest(method: .post, path: "/\(function)\(path == "/" ? "" : path)", headers: headers, body: Data(json.utf8))
        )
    }

    func login(_ username: String, _ password: String = AuthHarness.password, address: String? = nil) async -> FunctionResponse {
        let address = address ?? self.address
        return await post(
            "login", json: #"{"username":\#(JSONText.quoted(username)),"password":\#(JSONText.quoted(password))}"#,
            headers: [HTTPField.Name("X-Forwarded-For")!: address]
        )
    }

    func refresh(_ token: String) async -> FunctionResponse {
        await post("refresh", json: #"{"refresh":\#(JSONText.quoted(token))}"#)
    }

    /// Logs in and returns the token pair.
    func tokens(for user: User) async throws -> (refresh: String, access: String) {
        let response = await login(user.username)
        guard response.status == .ok else { throw HarnessError.unexpected(response.status.code, response.text) }
        let body = try JSONDecoder().decode([String: String].self, from: response.body)
        return (body["refresh"]!, body["access"]!)
    }

    /// Every row of `table` as text, concatenated (to prove what is not stored).
    func tableText(_ table: String) async throws -> String {
        try await database.withConnection { connection in
            var text = ""
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT \(table)::text FROM \(table)"), logger: TestDatabase.quietLogger)
            for try await row in rows.decode(String.self) { text += row + "\n" }
            return text
        }
    }

    /// The audit trail, newest first.
    func auditEvents() async throws -> [AuditEvent] {
        try await database.withConnection { try await AuditLog.recent(limit: 1000, on: $0, logger: TestDatabase.quietLogger) }
    }

    /// Every counter.
    func counters() async throws -> [Counters.Sample] {
        try await database.withConnection { try await Counters.all(on: $0, logger: TestDatabase.quietLogger) }
    }

    enum HarnessError: Error { case unexpected(Int, String) }
}

extension AuthSettings {
    /// Defaults with a cheap hash, so tests spend their time on behaviour.
    static var testing: AuthSettings {
        var settings = AuthSettings()
        settings.hashIterations = 1000
        settings.pruneEvery = 0
        return settings
    }
}

extension FunctionResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
}
