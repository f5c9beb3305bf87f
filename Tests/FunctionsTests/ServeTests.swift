import Domain
import Foundation
import Primitives
import Store
import Testing
import TestSupport

@testable import Functions

@Suite("functions serve as a real process", .machineShare, .serialized)
struct ServeTests {
    @Test("an unknown FUNCTION_TARGET stops start-up with one line listing the known functions")
    func unknownTarget() async throws {
        let process = try ChildProcess(
            product: "functions", arguments: ["serve"],
            environment: ["FUNCTION_TARGET": "nope", "DATABASE_URL": "postgres://u@127.0.0.1:1/db", "SECRET_KEY": testSecretKey]
        )
        #expect(try await process.waitForExit() == 1)
        let lines = process.text.split(separator: "\n")
        #expect(lines == ["functions: Unknown FUNCTION_TARGET \"nope\"; known functions: \(FunctionCatalog.names.joined(separator: ", "))"])
    }

    @Test("a missing or invalid setting stops start-up with one line naming it, never its value", arguments: [
        ([:], "DATABASE_URL"),
        (["DATABASE_URL": "mysql://u:hunter2@h/db"], "DATABASE_URL"),
        (["DATABASE_URL": "postgres://u@h/db", "PORT": "eighty"], "PORT"),
        (["DATABASE_URL": "postgres://u@h/db", "LOG_LEVEL": "chatty"], "LOG_LEVEL"),
        (["DATABASE_URL": "postgres://u@h/db"], "SECRET_KEY"),
        (["DATABASE_URL": "postgres://u@h/db", "SECRET_KEY": "short-and-secret"], "SECRET_KEY"),
        (["DATABASE_URL": "postgres://u@h/db", "JWT_SIGNING_ALGORITHM": "RS256"], "JWT_SIGNING_ALGORITHM"),
        (["DATABASE_URL": "postgres://u@h/db", "JWT_SIGNING_ALGORITHM": "ES256"], "JWT_ES256_PRIVATE_KEY"),
        (["DATABASE_URL": "postgres://u@h/db", "JWT_SIGNING_ALGORITHM": "es256", "JWT_ES256_PRIVATE_KEY": "hunter2"], "JWT_ES256_PRIVATE_KEY"),
        (["DATABASE_URL": "postgres://u@h/db", "JWT_ACCEPT_HS256_UNTIL": "next tuesday"], "JWT_ACCEPT_HS256_UNTIL"),
        (["DATABASE_URL": "postgres://u@h/db", "FUNCTION_SIGNATURE_TYPE": "grpc"], "FUNCTION_SIGNATURE_TYPE"),
    ])
    func invalidSettings(environment: [String: String], name: String) async throws {
        let process = try ChildProcess(product: "functions", arguments: ["serve"], environment: environment)
        #expect(try await process.waitForExit() == 1)
        let lines = process.text.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains(name) == true)
        #expect(!process.text.contains("hunter2") && !process.text.contains("short-and-secret"))
    }

    @Test("serving every function on a non-loopback address without INTERNAL_API_TOKEN is refused, naming ALLOW_OPEN_PRIVATE_ROUTES")
    func openPrivateRoutes() async throws {
        let configuration = try await TestDatabase.configuration(suite: "serve")
        let base = ["DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "PORT": "0", "HOST": "0.0.0.0"]
        let refused = try ChildProcess(product: "functions", arguments: ["serve"], environment: base)
        #expect(try await refused.waitForExit() == 1)
        let lines = refused.text.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.contains("ALLOW_OPEN_PRIVATE_ROUTES") == true, "\(refused.text)")
        // Said on purpose, guarded by a token, one function (Cloud Run IAM guards a private one), or loopback only.
        for extra in [
            ["ALLOW_OPEN_PRIVATE_ROUTES": "true"], ["INTERNAL_API_TOKEN": String(repeating: "t", count: 32)], ["FUNCTION_TARGET": "metrics"],
            ["HOST": "127.0.0.1"],
        ] {
            let process = try ChildProcess(product: "functions", arguments: ["serve"], environment: base.merging(extra) { $1 })
            let port = try await process.listeningPort()
            #expect(try await HTTPTestClient.send(port: port, method: "GET", path: "/health").status == 200, "\(extra)")
            process.signal(SIGTERM)
            #expect(try await process.waitForExit() == 0)
        }
        #expect(IPAddress("::1")?.isLoopback == true && IPAddress("127.8.0.1")?.isLoopback == true && IPAddress("::2")?.isLoopback == false)
    }

    @Test("FUNCTION_SIGNATURE_TYPE (or --signature-type) fixes how the target reads requests, and is refused where the target cannot take it")
    func signatureType() async throws {
        let configuration = try await TestDatabase.configuration(suite: "serve")
        let base = ["DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "HOST": "127.0.0.1"]
        let refused = try ChildProcess(
            product: "functions", arguments: ["serve", "--target", "login", "--port", "0"], environment: base.merging(["FUNCTION_SIGNATURE_TYPE": "cloudevent"]) { $1 }
        )
        #expect(try await refused.waitForExit() == 1)
        #expect(refused.text.split(separator: "\n") == ["functions: FUNCTION_SIGNATURE_TYPE=cloudevent: login takes http only"], "\(refused.text)")
        let untargeted = try ChildProcess(product: "functions", arguments: ["serve", "--port", "0", "--signature-type", "http"], environment: base)
        #expect(try await untargeted.waitForExit() == 1 && untargeted.text.contains("FUNCTION_TARGET"))
        let json = Data(#"{"type":"lab.result","data":{"n":1}}"#.utf8)
        let binary: [(String, String)] = [
            ("Content-Type", "application/json"), ("ce-specversion", "1.0"), ("ce-id", "evt-1"), ("ce-source", "//lab"), ("ce-type", "lab.result"),
        ]
        for (type, plainStatus, eventStatus) in [("cloudevent", 200, 202), ("http", 202, 400)] {
            let process = try ChildProcess(
                product: "functions", arguments: ["serve", "--target", "webhook-dispatch", "--port", "0", "--signature-type", type], environment: base
            )
            let port = try await process.listeningPort()
            // Plain JSON: published under http; under cloudevent it is no event, so it is acknowledged as rejected.
            let plain = try await HTTPTestClient.send(port: port, method: "POST", path: "/events", headers: [("Content-Type", "application/json")], body: json)
            #expect(plain.status == plainStatus, "\(type): \(plain.text)")
            if type == "cloudevent" { #expect(plain.text.contains("rejected")) }
            // A binary-mode CloudEvent whose data has no type: an event under cloudevent, a bad JSON body under http.
            let event = try await HTTPTestClient.send(port: port, method: "POST", path: "/events", headers: binary, body: Data(#"{"n":1}"#.utf8))
            #expect(event.status == eventStatus, "\(type): \(event.text)")
            process.signal(SIGTERM)
            #expect(try await process.waitForExit() == 0)
        }
    }

    @Test("a function that needs no signing key starts without SECRET_KEY")
    func targetWithoutSecretKey() async throws {
        let configuration = try await TestDatabase.configuration(suite: "serve")
        let process = try ChildProcess(
            product: "functions", arguments: ["serve"],
            environment: ["DATABASE_URL": configuration.url, "FUNCTION_TARGET": "webhook-receive", "PORT": "0", "HOST": "127.0.0.1"]
        )
        let port = try await process.listeningPort()
        #expect(try await HTTPTestClient.send(port: port, path: "/health").status == 200)
        process.signal(SIGTERM)
        #expect(try await process.waitForExit() == 0)
    }

    @Test("serve answers /health and /ready against PostgreSQL, and drains on SIGTERM with exit 0")
    func serveAndDrain() async throws {
        let configuration = try await TestDatabase.configuration(suite: "serve")
        let process = try ChildProcess(
            product: "functions", arguments: ["serve"],
            environment: ["DATABASE_URL": configuration.url, "SECRET_KEY": testSecretKey, "PORT": "0", "HOST": "127.0.0.1", "K_SERVICE": "metrics", "K_REVISION": "metrics-1"]
        )
        let port = try await process.listeningPort()
        let health = try await HTTPTestClient.send(port: port, path: "/health")
        #expect(health.status == 200)
        let ready = try await HTTPTestClient.send(port: port, path: "/ready")
        #expect(ready.status == 200)
        let metrics = try await HTTPTestClient.send(port: port, path: "/metrics/")
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        process.signal(SIGTERM)
        #expect(try await process.waitForExit() == 0)
        let startLine = try #require(process.text.split(separator: "\n").first { $0.contains("listening on") })
        let object = try JSONSerialization.jsonObject(with: Data(startLine.utf8)) as? [String: Any]
        #expect((object?["logging.googleapis.com/labels"] as? [String: String]) == ["service": "metrics", "revision": "metrics-1"])
    }

    @Test("with PostgreSQL unreachable, /health is 200, /ready and data routes are 503 with Retry-After")
    func postgresDown() async throws {
        let port = try LocalPostgresCluster.freePort()
        let process = try ChildProcess(
            product: "functions", arguments: ["serve"],
            environment: [
                "DATABASE_URL": "postgres://u@127.0.0.1:\(port)/db?sslmode=disable", "SECRET_KEY": testSecretKey, "PORT": "0", "HOST": "127.0.0.1", "DB_ACQUIRE_TIMEOUT_MS": "500",
            ]
        )
        let serverPort = try await process.listeningPort()
        #expect(try await HTTPTestClient.send(port: serverPort, path: "/health").status == 200)
        let ready = try await HTTPTestClient.send(port: serverPort, path: "/ready")
        #expect(ready.status == 503)
        let metrics = try await HTTPTestClient.send(port: serverPort, path: "/metrics/")
        #expect(metrics.status == 503)
        #expect(metrics.headers["retry-after"] == "5")
        #expect(metrics.text == #"{"detail":"The database is unavailable; try again shortly.","code":"unavailable"}"#)
        process.signal(SIGTERM)
        #expect(try await process.waitForExit() == 0)
    }
}
