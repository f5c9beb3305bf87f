import Foundation
import HTTPTypes
import Runtime

/// Google's conformance fixtures, copied into the test bundle (see Fixtures/conformance/NOTICE.md).
enum Fixtures {
    static let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/conformance")

    static var eventNames: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix("-cloudevent-input.json") }.map { String($0.dropLast("-cloudevent-input.json".count)) }.sorted()
    }

    static func raw(_ name: String, _ kind: String) throws -> Data {
        try Data(contentsOf: folder.appendingPathComponent("\(name)-cloudevent-\(kind).json"))
    }

    static func json(_ name: String, _ kind: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: raw(name, kind)) as! [String: Any]
    }

    /// The expected output. The suite's Pub/Sub outputs omit `data.subscription`, which its legacy-event
    /// converter cannot know; a CloudEvent's data passes through whole, so it is put back for comparison.
    static func expectedOutput(_ name: String) throws -> NSDictionary {
        var expected = try json(name, "output")
        let input = try json(name, "input")
        if var data = expected["data"] as? [String: Any], let inputData = input["data"] as? [String: Any],
            let subscription = inputData["subscription"], data["subscription"] == nil
        {
            data["subscription"] = subscription
            expected["data"] = data
        }
        return expected as NSDictionary
    }

    /// The binary-mode request the suite sends for an input fixture: attributes as `ce-*` headers.
    static func binaryRequest(from event: [String: Any]) throws -> (HTTPFields, Data) {
        var headers = HTTPFields()
        for (key, value) in event where key != "data" && key != "datacontenttype" {
            headers[HTTPField.Name("ce-\(key)")!] = "\(value)"
        }
        headers[.contentType] = event["datacontenttype"] as? String ?? "application/json"
        let body = try JSONSerialization.data(withJSONObject: event["data"] ?? NSNull(), options: [.fragmentsAllowed, .withoutEscapingSlashes])
        return (headers, body)
    }
}

/// Invokers over a few functions, as the server would build them.
enum Invokers {
    static func single(_ function: any HTTPFunction) throws -> FunctionInvoker {
        FunctionInvoker(registry: try FunctionRegistry(functions: [function], target: function.name), logger: .init(label: "test"))
    }
}
