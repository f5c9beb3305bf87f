import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import Primitives

/// `functions invoke NAME`: one invocation of a function, as `gcloud functions call` sends one, to the local
/// runner or (with `--url`) to a deployed service: an HTTP request, a CloudEvent (binary or structured mode, as
/// Eventarc sends them), or a Pub/Sub push envelope. Prints the status, the headers and the body.
struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one HTTP request, CloudEvent or Pub/Sub push to a function (the local runner, or --url).",
        discussion: """
            functions invoke webhook-dispatch --path /events --data '{"type":"lab.result","data":{}}'
            functions invoke send-alert --cloudevent --type alert.raised --source //monitor --data '{...}'
            functions invoke send-alert --pubsub '{...}' --attribute origin=monitor
            functions invoke metrics --url https://metrics-abc-ew.a.run.app --id-token --method GET
            """
    )

    @Argument(help: "The function (its path prefix on the local runner).") var name: String
    @Option(help: "The service's URL instead of the local runner (a deployed function answers at its root).") var url: String?
    @Option(help: "The local runner's port.") var port: Int = 8080
    @Option(help: "The path below the function's root.") var path: String = "/"
    @Option(help: "The HTTP method (POST unless given).") var method: String = "POST"
    @Option(help: "The body: JSON for HTTP, the event's data for --cloudevent.") var data: String?
    @Option(name: .customLong("header"), help: "Extra header Name: value (repeatable).") var headers: [String] = []
    @Flag(help: "Add `gcloud auth print-identity-token` as a bearer token (a private Cloud Run service).") var idToken = false
    @Flag(help: "Send a CloudEvent (binary mode unless --structured).") var cloudevent = false
    @Option(help: "The CloudEvent's type.") var type: String?
    @Option(help: "The CloudEvent's source.") var source: String = "//functions/invoke"
    @Option(help: "The CloudEvent's id (a new UUID by default).") var id: String?
    @Flag(help: "Send the CloudEvent in structured mode (application/cloudevents+json).") var structured = false
    @Option(help: "Send a Pub/Sub push envelope whose message data is this text.") var pubsub: String?
    @Option(name: .customLong("attribute"), help: "A Pub/Sub message attribute key=value (repeatable).") var attributes: [String] = []

    func validate() throws {
        if cloudevent && pubsub != nil { throw ValidationError("--cloudevent and --pubsub are two shapes: pick one") }
        if cloudevent && type == nil { throw ValidationError("--cloudevent needs --type") }
        if (structured || type != nil) && !cloudevent { throw ValidationError("--type and --structured go with --cloudevent") }
        if !attributes.isEmpty && pubsub == nil { throw ValidationError("--attribute goes with --pubsub") }
        for attribute in attributes where !attribute.contains("=") { throw ValidationError("--attribute must be key=value") }
        for header in headers where !header.contains(":") { throw ValidationError("--header must be Name: value") }
        if let data, cloudevent || pubsub == nil, (try? JSONSerialization.jsonObject(with: Data(data.utf8), options: .fragmentsAllowed)) == nil {
            throw ValidationError("--data must be JSON")
        }
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /") }
    }

    func run() async throws {
        let base = url.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "http://127.0.0.1:\(port)/\(name)"
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method.uppercased())
        let (headers, body) = Self.shape(
            data: data, cloudevent: cloudevent ? (type: type ?? "", source: source, id: id ?? UUID().uuidString.lowercased(), structured: structured) : nil,
            pubsub: pubsub.map { ($0, Dictionary(attributes.map { Self.pair($0, "=") }) { $1 }) }
        )
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        for header in self.headers {
            let (name, value) = Self.pair(header, ":")
            request.headers.add(name: name, value: value.trimmingCharacters(in: .whitespaces))
        }
        if idToken { request.headers.add(name: "Authorization", value: "Bearer " + (try Self.identityToken())) }
        if let body { request.body = .bytes(ByteBuffer(data: body)) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        defer { _ = client.shutdown() }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(120))
        } catch {
            fail("could not reach \(base + path): \(error)" + (url == nil ? " (is `functions local` running on port \(port)?)" : ""))
        }
        var out = "HTTP \(response.status.code) \(response.status.reasonPhrase)\n"
        for header in response.headers { out += "\(header.name): \(header.value)\n" }
        let received = try await response.body.collect(upTo: 32 * 1024 * 1024)
        say(out + "\n" + String(buffer: received))
        if response.status.code >= 400 { throw ExitCode(1) }
    }

    /// The headers and body of one invocation: plain (the data as JSON), a CloudEvent in binary or structured mode,
    /// or a Pub/Sub push envelope, as Eventarc and Pub/Sub send them.
    static func shape(
        data: String?, cloudevent: (type: String, source: String, id: String, structured: Bool)?, pubsub: (String, [String: String])?,
        now: Date = Date()
    ) -> (headers: [(String, String)], body: Data?) {
        let time = ISO8601DateFormatter().string(from: now)
        if let event = cloudevent {
            if event.structured {
                var envelope = #"{"specversion":"1.0","id":\#(JSONText.quoted(event.id)),"source":\#(JSONText.quoted(event.source)),"type":\#(JSONText.quoted(event.type)),"#
                envelope += #""time":\#(JSONText.quoted(time)),"datacontenttype":"application/json""#
                if let data { envelope += #","data":"# + data }
                return ([("Content-Type", "application/cloudevents+json")], Data((envelope + "}").utf8))
            }
            return (
                [
                    ("Content-Type", "application/json"), ("ce-specversion", "1.0"), ("ce-id", event.id), ("ce-source", event.source),
                    ("ce-type", event.type), ("ce-time", time),
                ],
                data.map { Data($0.utf8) }
            )
        }
        if let (text, attributes) = pubsub {
            let attributeJSON = attributes.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }.joined(separator: ",")
            let messageID = String(UInt64.random(in: 1...UInt64(Int64.max)))
            let body = #"{"message":{"data":\#(JSONText.quoted(Data(text.utf8).base64EncodedString())),"messageId":\#(JSONText.quoted(messageID)),"#
                + #""publishTime":\#(JSONText.quoted(time)),"attributes":{\#(attributeJSON)}},"subscription":"projects/local/subscriptions/invoke"}"#
            return ([("Content-Type", "application/json")], Data(body.utf8))
        }
        return (data == nil ? [] : [("Content-Type", "application/json")], data.map { Data($0.utf8) })
    }

    static func pair(_ text: String, _ separator: Character) -> (String, String) {
        let parts = text.split(separator: separator, maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }

    /// `gcloud auth print-identity-token`'s output.
    static func identityToken() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gcloud", "auth", "print-identity-token"]
        let output = Pipe()
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            fail("--id-token needs gcloud on PATH")
        }
        let token = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        guard process.terminationStatus == 0, !token.isEmpty else { fail("gcloud auth print-identity-token failed") }
        return token
    }
}
