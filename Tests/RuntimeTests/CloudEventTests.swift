import Foundation
import HTTPTypes
import Primitives
import Testing

@testable import Runtime

@Suite("CloudEvents over HTTP")
struct CloudEventTests {
    @Test("every conformance fixture in binary mode round-trips to the expected structured event")
    func binaryModeFixtures() throws {
        for name in Fixtures.eventNames {
            let input = try Fixtures.json(name, "input")
            let (headers, body) = try Fixtures.binaryRequest(from: input)
            let event = try CloudEvent(request: FunctionRequest(method: .post, path: "/", headers: headers, body: body))
            let written = try #require(try JSONSerialization.jsonObject(with: event.structuredJSON()) as? NSDictionary)
            let expected = try Fixtures.expectedOutput(name)
            #expect(written == expected, "\(name)")
            // `time` and `data` pass through exactly, byte for byte.
            #expect(event.time == (input["time"] as? String), "\(name)")
            #expect(event.data == body, "\(name)")
        }
    }

    @Test("every conformance fixture in structured mode keeps data bytes exactly")
    func structuredModeFixtures() throws {
        for name in Fixtures.eventNames {
            let raw = try Fixtures.raw(name, "input")
            let event = try CloudEvent(structured: raw)
            let rawData = try #require(try RawJSONObject(parsing: raw)["data"])
            #expect(event.data == rawData, "\(name)")
            let written = try #require(try JSONSerialization.jsonObject(with: event.structuredJSON()) as? NSDictionary)
            #expect(written == (try Fixtures.expectedOutput(name)), "\(name)")
        }
    }

    @Test("structured output is byte-exact: spec order, sorted extensions, raw data")
    func structuredOutputBytes() throws {
        let body = Data(
            #"{"specversion":"1.0","type":"t.x","source":"//s","id":"1","time":"2020-09-29T11:32:00.000Z","zeta":"z","alpha":7,"datacontenttype":"application/json","data":{"a":null, "n":1.50,"s":"\u00e9/"}}"#
                .utf8
        )
        let event = try CloudEvent(structured: body)
        let expected =
            #"{"specversion":"1.0","id":"1","source":"//s","type":"t.x","time":"2020-09-29T11:32:00.000Z","datacontenttype":"application/json","alpha":7,"zeta":"z","data":{"a":null, "n":1.50,"s":"\u00e9/"}}"#
        #expect(String(decoding: event.structuredJSON(), as: UTF8.self) == expected)
    }

    @Test("attributes are the spec's String type: a control character or a noncharacter makes the event malformed, in either mode")
    func attributeStrings() {
        for id in ["%00", "a%0D%0Ab", "%C2%85", "%EF%BF%BF"] {
            let request = FunctionRequest(
                method: .post, path: "/",
                headers: [.contentType: "application/json", HTTPField.Name("ce-specversion")!: "1.0", HTTPField.Name("ce-id")!: id,
                    HTTPField.Name("ce-source")!: "//s", HTTPField.Name("ce-type")!: "t"],
                body: Data("{}".utf8)
            )
            #expect(throws: CloudEventError.self) { try CloudEvent(anyEventRequest: request) }
        }
        for json in [#"{"specversion":"1.0","id":"a\u0000","source":"//s","type":"t"}"#, #"{"specversion":"1.0","id":"1","source":"//s","type":"t\u009b"}"#,
            #"{"specversion":"1.0","id":"1","source":"//s","type":"t","subject":"\u001b"}"#]
        {
            let request = FunctionRequest(method: .post, path: "/", headers: [.contentType: "application/cloudevents+json"], body: Data(json.utf8))
            #expect(throws: CloudEventError.self) { try CloudEvent(anyEventRequest: request) }
        }
        let fine = FunctionRequest(
            method: .post, path: "/", headers: [.contentType: "application/cloudevents+json"],
            body: Data(#"{"specversion":"1.0","id":"ünï-1","source":"//s","type":"t"}"#.utf8)
        )
        #expect((try? CloudEvent(anyEventRequest: fine))?.id == "ünï-1")
    }

    @Test("binary mode: percent-encoded headers, extensions, millisecond time")
    func binaryPercentEncoding() throws {
        let headers: HTTPFields = [
            HTTPField.Name("ce-specversion")!: "1.0",
            HTTPField.Name("ce-id")!: "abc",
            HTTPField.Name("ce-source")!: "//source/with%20space",
            HTTPField.Name("ce-type")!: "com.example.t",
            HTTPField.Name("ce-subject")!: "caf%C3%A9",
            HTTPField.Name("ce-time")!: "2020-09-29T11:32:00.000Z",
            HTTPField.Name("ce-traceid")!: "x%22y",
            .contentType: "application/json",
        ]
        let event = try CloudEvent(binaryHeaders: headers, body: Data(#"{"k":[1,null]}"#.utf8))
        #expect(event.source == "//source/with space")
        #expect(event.subject == "café")
        #expect(event.time == "2020-09-29T11:32:00.000Z")
        #expect(event.extensionString("traceid") == "x\"y")
        #expect(
            String(decoding: event.structuredJSON(), as: UTF8.self)
                == #"{"specversion":"1.0","id":"abc","source":"//source/with space","type":"com.example.t","subject":"café","time":"2020-09-29T11:32:00.000Z","datacontenttype":"application/json","traceid":"x\"y","data":{"k":[1,null]}}"#
        )
    }

    @Test("binary data that is not JSON is written as data_base64, and structured data_base64 is decoded")
    func base64Data() throws {
        let bytes = Data([0, 1, 2, 255])
        let headers: HTTPFields = [
            HTTPField.Name("ce-specversion")!: "1.0", HTTPField.Name("ce-id")!: "1", HTTPField.Name("ce-source")!: "s",
            HTTPField.Name("ce-type")!: "t", .contentType: "application/octet-stream",
        ]
        let event = try CloudEvent(binaryHeaders: headers, body: bytes)
        let json = event.structuredJSON()
        #expect(String(decoding: json, as: UTF8.self).hasSuffix(#""data_base64":"AAEC/w=="}"#))
        let back = try CloudEvent(structured: json)
        #expect(back.data == bytes)
        #expect(back == event)
    }

    @Test("a missing required attribute, a wrong specversion or broken JSON is a 400", arguments: ["id", "source", "type", "specversion"])
    func missingAttribute(attribute: String) async throws {
        var headers: HTTPFields = [
            HTTPField.Name("ce-specversion")!: "1.0", HTTPField.Name("ce-id")!: "1", HTTPField.Name("ce-source")!: "s",
            HTTPField.Name("ce-type")!: "t", .contentType: "application/json",
        ]
        headers[HTTPField.Name("ce-\(attribute)")!] = nil
        if attribute == "specversion" { headers[HTTPField.Name("ce-id")!] = "1" }
        let request = FunctionRequest(method: .post, path: "/", headers: headers, body: Data("{}".utf8))
        let response = await try Invokers.single(EchoEvent()).invoke(request)
        #expect(response.status == .badRequest)
        let body = try JSONDecoder().decode([String: String].self, from: response.body)
        #expect(body["code"] == "malformed_cloudevent")
    }

    @Test("malformed events are 400s", arguments: [
        (#"{"specversion":"1.0","id":"1","source":"s"}"#, "application/cloudevents+json"),
        (#"{"specversion":"0.3","id":"1","source":"s","type":"t"}"#, "application/cloudevents+json"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":{"#, "application/cloudevents+json"),
        (#"[{"specversion":"1.0"}]"#, "application/cloudevents-batch+json"),
        (#"{"specversion":"1.0","id":1,"source":"s","type":"t"}"#, "application/cloudevents+json"),
        (#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"***"}"#, "application/cloudevents+json"),
        (String(repeating: "[", count: 500), "application/cloudevents+json"),
    ])
    func malformedStructured(body: String, contentType: String) async throws {
        let request = FunctionRequest(method: .post, path: "/", headers: [.contentType: contentType], body: Data(body.utf8))
        let response = await try Invokers.single(EchoEvent()).invoke(request)
        #expect(response.status == .badRequest)
    }

    @Test("a raw Pub/Sub push envelope becomes a messagePublished event with the decoded message")
    func pubSubPush() async throws {
        let envelope = Data(
            #"{"message":{"data":"aGVsbG8=","attributes":{"k":"v"},"messageId":"42","publishTime":"2021-02-26T19:13:55.749Z"},"subscription":"projects/p/subscriptions/s"}"#
                .utf8
        )
        let request = FunctionRequest(method: .post, path: "/", headers: [.contentType: "application/json"], body: envelope)
        let event = try CloudEvent(anyEventRequest: request)
        #expect(event.type == PubSubMessage.messagePublishedType)
        #expect(event.id == "42")
        #expect(event.time == "2021-02-26T19:13:55.749Z")
        let message = try PubSubMessage(event: event)
        #expect(message.data == Data("hello".utf8))
        #expect(message.attributes == ["k": "v"])
        #expect(message.subscription == "projects/p/subscriptions/s")
    }

    @Test("the Eventarc Pub/Sub fixture decodes its base64 message")
    func pubSubFixture() throws {
        let event = try CloudEvent(structured: try Fixtures.raw("pubsub_binary", "input"))
        let message = try PubSubMessage(event: event)
        #expect(message.data == Data([1, 2, 3, 4]))
        #expect(message.messageID == "aaaaaa-1111-bbbb-2222-cccccccccccc")
        #expect(throws: CloudEventError.self) { try PubSubMessage(envelope: Data(#"{"message":{"data":"%%%","messageId":"1"}}"#.utf8)) }
        #expect(throws: CloudEventError.self) { try PubSubMessage(envelope: Data(#"{"message":{"data":"aGk="}}"#.utf8)) }
    }
}

/// A CloudEvent function that does nothing: for parsing tests through the invoker.
struct EchoEvent: CloudEventFunction {
    let name = "echo"
    func handle(_ event: CloudEvent, context: FunctionContext) async throws {}
}
