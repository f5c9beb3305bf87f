import Foundation
import Testing
import TestSupport

@testable import Runtime

/// Google's Functions Framework conformance functions, run as a real process the way the suite runs them:
/// `FUNCTION_TARGET=<name> PORT=<port> conformance`, in a working directory that receives `function_output.json`.
@Suite("Functions Framework conformance (real process)", .machineShare, .serialized)
struct ConformanceTests {
    func withFunction(_ target: String, _ body: (Int, URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = try ChildProcess(
            product: "conformance",
            environment: ["FUNCTION_TARGET": target, "PORT": "0", "HOST": "127.0.0.1"],
            directory: directory
        )
        let port = try await process.listeningPort()
        try await body(port, directory.appendingPathComponent("function_output.json"))
        process.signal(SIGTERM)
        #expect(try await process.waitForExit() == 0)
    }

    @Test("http writes the raw request body byte for byte")
    func http() async throws {
        try await withFunction("http") { port, output in
            let body = Data(#"{"message": "héllo",  "n": 1.50, "z": null}"#.utf8) + Data([0xFF, 0x00])
            let response = try await HTTPTestClient.send(port: port, method: "POST", path: "/", body: body)
            #expect(response.status == 200)
            #expect(try Data(contentsOf: output) == body)
        }
    }

    @Test("cloudevent records every fixture, binary and structured, as the expected structured event")
    func cloudevent() async throws {
        try await withFunction("cloudevent") { port, output in
            for name in Fixtures.eventNames {
                let input = try Fixtures.json(name, "input")
                let expected = try Fixtures.expectedOutput(name)
                let (fields, body) = try Fixtures.binaryRequest(from: input)
                let headers = fields.map { ($0.name.rawName, $0.value) }
                let binary = try await HTTPTestClient.send(port: port, method: "POST", path: "/", headers: headers, body: body)
                #expect(binary.status == 200, "\(name) binary")
                let written = try Data(contentsOf: output)
                #expect(try JSONSerialization.jsonObject(with: written) as? NSDictionary == expected, "\(name) binary")
                #expect(String(decoding: written, as: UTF8.self).hasSuffix(",\"data\":" + String(decoding: body, as: UTF8.self) + "}"), "\(name) data bytes")

                let raw = try Fixtures.raw(name, "input")
                let structured = try await HTTPTestClient.send(
                    port: port, method: "POST", path: "/", headers: [("Content-Type", "application/cloudevents+json")], body: raw
                )
                #expect(structured.status == 200, "\(name) structured")
                #expect(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? NSDictionary == expected, "\(name) structured")
            }
        }
    }

    @Test("cloudevent: exact bytes for milliseconds, nulls, extensions, percent-encoding and base64 data")
    func cloudeventExactBytes() async throws {
        try await withFunction("cloudevent") { port, output in
            let binary = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/",
                headers: [
                    ("ce-specversion", "1.0"), ("ce-id", "id-1"), ("ce-source", "//x/y%20z"), ("ce-type", "com.example.t"),
                    ("ce-time", "2020-09-29T11:32:00.000Z"), ("ce-myext", "v%C3%A9"), ("Content-Type", "application/json"),
                ],
                body: Data(#"{"a":null,"b":[null,1.0]}"#.utf8)
            )
            #expect(binary.status == 200)
            #expect(
                String(decoding: try Data(contentsOf: output), as: UTF8.self)
                    == #"{"specversion":"1.0","id":"id-1","source":"//x/y z","type":"com.example.t","time":"2020-09-29T11:32:00.000Z","datacontenttype":"application/json","myext":"vé","data":{"a":null,"b":[null,1.0]}}"#
            )
            let structured = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/", headers: [("Content-Type", "application/cloudevents+json")],
                body: Data(#"{"specversion":"1.0","id":"2","source":"s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"}"#.utf8)
            )
            #expect(structured.status == 200)
            #expect(
                String(decoding: try Data(contentsOf: output), as: UTF8.self)
                    == #"{"specversion":"1.0","id":"2","source":"s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AAEC"}"#
            )
            let malformed = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/", headers: [("ce-specversion", "1.0"), ("ce-id", "1")], body: Data("{}".utf8)
            )
            #expect(malformed.status == 400)
        }
    }

    @Test("typed answers {\"payload\": <request JSON>}")
    func typed() async throws {
        try await withFunction("typed") { port, _ in
            let request = #"{"message":"hi","n":12,"f":1.5,"list":[true,null],"nested":{"k":"v"}}"#
            let response = try await HTTPTestClient.send(
                port: port, method: "POST", path: "/", headers: [("Content-Type", "application/json")], body: Data(request.utf8)
            )
            #expect(response.status == 200)
            let answer = try JSONSerialization.jsonObject(with: response.body) as? NSDictionary
            let expected = try JSONSerialization.jsonObject(with: Data("{\"payload\":\(request)}".utf8)) as? NSDictionary
            #expect(answer == expected)
            let bad = try await HTTPTestClient.send(port: port, method: "POST", path: "/", body: Data("{".utf8))
            #expect(bad.status == 400)
        }
    }

    @Test("the robots and favicon paths are 404 and responses carry no ETag")
    func reservedPaths() async throws {
        try await withFunction("http") { port, _ in
            for path in ["/robots.txt", "/favicon.ico"] {
                let response = try await HTTPTestClient.send(port: port, path: path)
                #expect(response.status == 404)
                #expect(response.headers["etag"] == nil)
            }
        }
    }
}
