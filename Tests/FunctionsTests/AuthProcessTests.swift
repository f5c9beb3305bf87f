import Domain
import Foundation
import PostgresNIO
import Store
import Testing
import TestSupport

@testable import Functions

/// login and the user commands as real processes on one database.
@Suite("login across processes, and the users commands", .machineShare, .serialized)
struct AuthProcessTests {
    func environment(_ configuration: DatabaseConfiguration, _ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "PASSWORD_HASH_ITERATIONS": "1000",
            "PORT": "0", "HOST": "127.0.0.1", "FUNCTION_TARGET": "login", "LOG_LEVEL": "notice",
        ]
        environment.merge(extra) { _, new in new }
        return environment
    }

    /// Runs `functions <arguments>` with `input` on stdin and returns its exit status and output.
    func run(_ arguments: [String], input: String, environment: [String: String]) async throws -> (Int32, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stdin-\(UUID().uuidString)")
        try Data(input.utf8).write(to: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = try ChildProcess(product: "functions", arguments: arguments, environment: environment, standardInput: directory)
        let status = try await process.waitForExit()
        return (status, process.text)
    }

    @Test(
        "the brute-force limit holds across two server processes on one database, whatever the client writes in X-Forwarded-For",
        arguments: [0, 1, 2]
    )
    func rateLimitAcrossProcesses(hops: Int) async throws {
        let configuration = try await TestDatabase.configuration(suite: "auth-processes")
        let username = "shared-limit-\(hops)"
        var environment = environment(configuration)
        environment["TRUSTED_PROXY_HOPS"] = String(hops)
        let (status, _) = try await run(["users", "create", "--username", username], input: "correct horse battery staple\n", environment: environment)
        #expect(status == 0)
        let first = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        let second = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        let ports = [try await first.listeningPort(), try await second.listeningPort()]
        var statuses: [Int] = []
        for attempt in 0..<7 {
            // The client writes a new address each time; the trusted proxies append theirs (none with 0 hops).
            let appended = ["", ", 203.0.113.5", ", 203.0.113.5, 34.120.0.1"][hops]
            let response = try await HTTPTestClient.send(
                port: ports[attempt % 2], method: "POST", path: "/",
                headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "198.51.100.\(attempt)\(appended)")],
                body: Data(#"{"username":"\#(username)","password":"wrong password"}"#.utf8)
            )
            statuses.append(response.status)
        }
        #expect(statuses == [401, 401, 401, 401, 401, 429, 429])
        first.signal(SIGTERM)
        second.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)
        #expect(try await second.waitForExit() == 0)
    }

    @Test("users create reads the password from stdin, enforces the policy, and the user can log in")
    func usersCommands() async throws {
        let configuration = try await TestDatabase.configuration(suite: "auth-processes")
        let env = environment(configuration)
        let weak = try await run(["users", "create", "--username", "weak-one"], input: "123456\n", environment: env)
        #expect(weak.0 == 1)
        #expect(weak.1.contains("This password is too short. It must contain at least 12 characters."))
        #expect(weak.1.contains("This password is too common.") && weak.1.contains("This password is entirely numeric."))
        let created = try await run(["users", "create", "--username", "cli-user", "--email", "cli@example.com"], input: "a sturdy passphrase 42\n", environment: env)
        #expect(created.0 == 0, "\(created.1)")
        for name in ["bad name", "evil\u{202E}gpj.exe", "line\nbreak"] {
            let invalid = try await run(["users", "create", "--username", name], input: "a sturdy passphrase 42\n", environment: env)
            #expect(invalid.0 == 1 && invalid.1.contains("--username: Enter a valid username."), "\(invalid.1)")
        }
        let duplicate = try await run(["users", "create", "--username", "cli-user"], input: "a sturdy passphrase 42\n", environment: env)
        #expect(duplicate.0 == 1 && duplicate.1.contains("already exists"))
        let changed = try await run(["users", "set-password", "--username", "cli-user"], input: "another sturdy passphrase\n", environment: env)
        #expect(changed.0 == 0)
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: env)
        let port = try await server.listeningPort()
        let login = try await HTTPTestClient.send(
            port: port, method: "POST", path: "/", headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "192.0.2.200")],
            body: Data(#"{"username":"cli-user","password":"another sturdy passphrase"}"#.utf8)
        )
        #expect(login.status == 200)
        let deactivated = try await run(["users", "deactivate", "--username", "cli-user"], input: "", environment: env)
        #expect(deactivated.0 == 0)
        let refused = try await HTTPTestClient.send(
            port: port, method: "POST", path: "/", headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "192.0.2.201")],
            body: Data(#"{"username":"cli-user","password":"another sturdy passphrase"}"#.utf8)
        )
        #expect(refused.status == 401)
        server.signal(SIGTERM)
        _ = try await server.waitForExit()
        // The password never appears in argv, output or the audit trail.
        let audit = try await TestDatabase.with(suite: "auth-processes") { database in
            try await database.withConnection { connection in
                var text = ""
                for try await row in try await connection.query("SELECT audit_events::text FROM audit_events", logger: TestDatabase.quietLogger).decode(String.self) {
                    text += row
                }
                return text
            }
        }
        #expect(audit.contains("user_create") && audit.contains("user_set_password") && audit.contains("user_deactivate"))
        #expect(!audit.contains("sturdy passphrase"))
    }

    @Test("import-django copies auth_user with ids, hashes and flags, twice without harm; Django passwords then log in")
    func importDjango() async throws {
        let admin = try await TestDatabase.admin()
        let djangoName = "django_source_\(UInt32.random(in: 0...UInt32.max))"
        let logger = TestDatabase.quietLogger
        try await TestDatabase.with(suite: "auth-import-admin") { _ in
            let adminDatabase = try Database(configuration: admin, logger: logger)
            try await Migrate.running(adminDatabase) {
                try await adminDatabase.withConnection { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(djangoName)\""), logger: logger)
                }
            }
        }
        let django = admin.with(database: djangoName)
        let source = try Database(configuration: django, logger: logger)
        try await Migrate.running(source) {
            try await source.withConnection { connection in
                try await connection.query(
                    """
                    CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz,
                      is_superuser boolean NOT NULL DEFAULT false, username varchar(150) UNIQUE NOT NULL, first_name varchar(150) NOT NULL DEFAULT '',
                      last_name varchar(150) NOT NULL DEFAULT '', email varchar(254) NOT NULL DEFAULT '', is_staff boolean NOT NULL DEFAULT false,
                      is_active boolean NOT NULL DEFAULT true, date_joined timestamptz NOT NULL DEFAULT now())
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO auth_user (id, username, password, email, is_staff, is_active) VALUES
                    (41, 'django-alice', 'pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=', 'alice@example.com', true, true),
                    (42, 'django-bob', '!unusable', 'bob@example.com', false, true),
                    (43, 'django-carol', 'pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$7g09gCC/g1P5ACeEb8xx77VaL+guiGRutJE6Ai8cR90=', '', false, false)
                    """,
                    logger: logger
                )
            }
        }
        let target = try await TestDatabase.configuration(suite: "auth-import")
        for _ in 0..<2 {
            let (status, output) = try await run(["users", "import-django", "--from", django.url], input: "", environment: environment(target))
            #expect(status == 0, "\(output)")
            #expect(output.contains("imported 3 users"))
        }
        let server = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment(target))
        let port = try await server.listeningPort()
        func login(_ username: String, _ address: String) async throws -> HTTPTestClient.Response {
            try await HTTPTestClient.send(
                port: port, method: "POST", path: "/", headers: [("Content-Type", "application/json"), ("X-Forwarded-For", address)],
                body: Data(#"{"username":"\#(username)","password":"correct horse battery staple"}"#.utf8)
            )
        }
        let alice = try await login("django-alice", "192.0.2.10")
        #expect(alice.status == 200)
        let claims = try JWTSigner(secretKey: testSecretKey).verify(
            try #require((try JSONSerialization.jsonObject(with: alice.body) as? [String: String])?["refresh"]),
            expecting: .refresh, now: Int64(Date().timeIntervalSince1970)
        )
        #expect(claims.userID == 41)
        #expect(try await login("django-bob", "192.0.2.11").status == 401)
        #expect(try await login("django-carol", "192.0.2.12").status == 401)
        server.signal(SIGTERM)
        _ = try await server.waitForExit()
    }
}
