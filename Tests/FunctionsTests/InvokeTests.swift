import Foundation
import Testing
import TestSupport

/// `functions invoke` against Google's conformance functions (`Examples/Conformance`), in all three shapes.
@Suite("functions invoke (real processes)", .machineShare, .serialized)
struct InvokeTests {
    func withConformance(_ target: String, _ body: (URL, URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("invoke-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ChildProcess(product: "conformance", environment: ["FUNCTION_TARGET": target, "PORT": "0", "HOST": "127.0.0.1"], directory: directory)
        let port = try await server.listeningPort()
        try await body(URL(string: "http://127.0.0.1:\(port)")!, directory.appendingPathComponent("function_output.json"))
        server.signal(SIGTERM)
        _ = try await server.waitForExit()
    }

    func invoke(_ arguments: [String]) async throws -> (Int32, String) {
        let process = try ChildProcess(product: "functions", arguments: ["invoke"] + arguments, environment: [:])
        return (try await process.waitForExit(), process.text)
    }

    func written(_ output: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
    }

    @Test("HTTP: the data arrives byte for byte; status, headers and body are printed")
    func http() async throws {
        try await withConformance("http") { url, output in
            let (status, text) = try await invoke(["http", "--url", url.absoluteString, "--data", #"{"message":"héllo","z":null}"#])
            #expect(status == 0 && text.hasPrefix("HTTP 200 OK\n"), "\(text)")
            #expect(try Data(contentsOf: output) == Data(#"{"message":"héllo","z":null}"#.utf8))
        }
    }

    @Test("CloudEvents in binary and structured mode arrive as the same event, data and nulls intact")
    func cloudevent() async throws {
        try await withConformance("cloudevent") { url, output in
            for mode in [[], ["--structured"]] {
                let (status, text) = try await invoke(
                    ["cloudevent", "--url", url.absoluteString, "--cloudevent", "--type", "lab.result", "--source", "//lab/1", "--id", "evt-7",
                     "--data", #"{"n":1,"z":null}"#] + mode
                )
                #expect(status == 0, "\(mode): \(text)")
                let event = try written(output)
                #expect(event["type"] as? String == "lab.result" && event["source"] as? String == "//lab/1" && event["id"] as? String == "evt-7", "\(mode)")
                #expect(event["specversion"] as? String == "1.0" && event["time"] != nil)
                let data = try #require(event["data"] as? [String: Any])
                #expect(data["n"] as? Int == 1 && data["z"] is NSNull, "\(mode): \(data)")
            }
        }
    }

    @Test("a Pub/Sub push envelope arrives as Pub/Sub sends it: the message's data base64, its attributes, an id")
    func pubsub() async throws {
        try await withConformance("cloudevent") { url, output in
            let (status, text) = try await invoke(["cloudevent", "--url", url.absoluteString, "--pubsub", "hello pub/sub", "--attribute", "origin=monitor"])
            #expect(status == 0, "\(text)")
            let event = try written(output)
            #expect(event["type"] as? String == "google.cloud.pubsub.topic.v1.messagePublished", "\(event)")
            let message = try #require((event["data"] as? [String: Any])?["message"] as? [String: Any])
            #expect(message["data"] as? String == Data("hello pub/sub".utf8).base64EncodedString())
            #expect((message["attributes"] as? [String: String]) == ["origin": "monitor"])
            #expect(message["messageId"] != nil)
        }
    }

    @Test("bad shapes are refused before anything is sent; an unreachable runner is one clear line")
    func refusals() async throws {
        for arguments in [["x", "--cloudevent"], ["x", "--pubsub", "a", "--cloudevent", "--type", "t"], ["x", "--data", "not json"], ["x", "--attribute", "a=b"]] {
            let (status, text) = try await invoke(arguments)
            #expect(status != 0 && !text.contains("HTTP "), "\(arguments): \(text)")
        }
        let (status, text) = try await invoke(["login", "--port", "1", "--data", "{}"])
        #expect(status == 1 && text.contains("is `functions local` running on port 1?"), "\(text)")
    }
}
