import Foundation
import HTTPTypes
import Primitives

extension CloudEvent {
    /// The media type of a structured-mode event.
    public static let structuredMediaType = "application/cloudevents+json"
    /// The media type of a batch of structured-mode events (not accepted by functions).
    public static let batchMediaType = "application/cloudevents-batch+json"

    /// True when the request carries a CloudEvent in binary (`ce-specversion`) or structured mode.
    public static func isCloudEvent(_ request: FunctionRequest) -> Bool {
        request.headers[.ceSpecVersion] != nil || request.mediaType == structuredMediaType
    }

    /// Reads a CloudEvent from an HTTP request in binary or structured mode.
    public init(request: FunctionRequest) throws(CloudEventError) {
        switch request.mediaType {
        case Self.structuredMediaType:
            try self.init(structured: request.body)
        case Self.batchMediaType:
            throw .malformed("batch mode is not supported")
        default:
            try self.init(binaryHeaders: request.headers, body: request.body)
        }
    }

    /// Binary mode: attributes in `ce-*` headers (percent-decoded), the body is `data`.
    public init(binaryHeaders headers: HTTPFields, body: Data) throws(CloudEventError) {
        var attributes: [String: String] = [:]
        for field in headers {
            let name = field.name.canonicalName
            guard name.hasPrefix("ce-"), name.count > 3 else { continue }
            let attribute = String(name.dropFirst(3))
            guard attributes[attribute] == nil else { throw .malformed("attribute '\(attribute)' is repeated") }
            guard let value = field.value.removingPercentEncoding else {
                throw .malformed("attribute '\(attribute)' is not valid percent-encoding")
            }
            attributes[attribute] = try Self.checkedString(value, attribute: attribute)
        }
        guard let specVersion = attributes.removeValue(forKey: "specversion") else {
            throw .missingAttribute("specversion")
        }
        func required(_ name: String) throws(CloudEventError) -> String {
            guard let value = attributes.removeValue(forKey: name), !value.isEmpty else { throw .missingAttribute(name) }
            return try Self.checkedString(value, attribute: name)
        }
        let id = try required("id")
        let source = try required("source")
        let type = try required("type")
        guard specVersion == "1.0" else { throw .unsupportedSpecVersion }
        let subject = attributes.removeValue(forKey: "subject")
        let time = attributes.removeValue(forKey: "time")
        let schema = attributes.removeValue(forKey: "dataschema")
        attributes.removeValue(forKey: "datacontenttype")  // binary mode uses Content-Type instead
        var extensions: [String: Data] = [:]
        for (name, value) in attributes {
            guard Self.isValidExtensionName(name) else { throw .malformed("invalid extension name") }
            extensions[name] = Data(JSONText.quoted(value).utf8)
        }
        self.init(
            id: id,
            source: source,
            type: type,
            specVersion: specVersion,
            subject: subject,
            time: time,
            dataContentType: headers[.contentType],
            dataSchema: schema,
            extensions: extensions,
            data: body.isEmpty ? nil : body
        )
        if hasJSONData, let data, !RawJSONObject.isValidJSON(data) {
            throw .malformed("data is not valid JSON for its content type")
        }
    }

    /// Structured mode: the body is the event as JSON, with `data` (JSON) or `data_base64`.
    public init(structured body: Data) throws(CloudEventError) {
        let object: RawJSONObject
        do {
            object = try RawJSONObject(parsing: body)
        } catch {
            throw .malformed("body is not a JSON object (\(error.message))")
        }
        func string(_ key: String) throws(CloudEventError) -> String? {
            do { return try object.string(key) } catch { throw .malformed("attribute '\(key)' must be a string") }
        }
        guard let specVersion = try string("specversion") else { throw .missingAttribute("specversion") }
        func required(_ key: String) throws(CloudEventError) -> String {
            guard let value = try string(key), !value.isEmpty else { throw .missingAttribute(key) }
            return try Self.checkedString(value, attribute: key)
        }
        let id = try required("id")
        let source = try required("source")
        let type = try required("type")
        guard specVersion == "1.0" else { throw .unsupportedSpecVersion }
        var data: Data?
        if let raw = object["data_base64"], raw != Data("null".utf8) {
            guard object["data"] == nil else { throw .malformed("both data and data_base64 are present") }
            guard let encoded = try string("data_base64"), let decoded = Data(base64Encoded: encoded) else {
                throw .malformed("data_base64 is not base64")
            }
            data = decoded
        } else if let raw = object["data"] {
            data = raw
        }
        let known: Set = [
            "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data", "data_base64",
        ]
        var extensions: [String: Data] = [:]
        for member in object.members where !known.contains(member.key) {
            guard Self.isValidExtensionName(member.key) else { throw .malformed("invalid extension name") }
            guard let first = member.value.first, first != UInt8(ascii: "{"), first != UInt8(ascii: "[") else {
                throw .malformed("extension '\(member.key)' must be a scalar")
            }
            extensions[member.key] = member.value
        }
        let contentType = try string("datacontenttype")
        self.init(
            id: id,
            source: source,
            type: type,
            specVersion: specVersion,
            subject: try string("subject").map { value throws(CloudEventError) in try Self.checkedString(value, attribute: "subject") },
            time: try string("time"),
            dataContentType: contentType,
            dataSchema: try string("dataschema"),
            extensions: extensions,
            data: data
        )
        // A JSON string in `data` with a non-JSON content type carries text: keep its decoded value as the bytes.
        if !hasJSONData, let raw = object["data"], raw.first == UInt8(ascii: "\"") {
            self.data = (try? string("data")).flatMap { $0.map { Data($0.utf8) } }
        }
    }

    /// The event as structured-mode JSON: attributes in spec order, extensions sorted, `data` passed through
    /// exactly when it is JSON, else as `data_base64`.
    public func structuredJSON() -> Data {
        var parts: [String] = [
            "\"specversion\":" + JSONText.quoted(specVersion),
            "\"id\":" + JSONText.quoted(id),
            "\"source\":" + JSONText.quoted(source),
            "\"type\":" + JSONText.quoted(type),
        ]
        if let subject { parts.append("\"subject\":" + JSONText.quoted(subject)) }
        if let time { parts.append("\"time\":" + JSONText.quoted(time)) }
        if let dataContentType { parts.append("\"datacontenttype\":" + JSONText.quoted(dataContentType)) }
        if let dataSchema { parts.append("\"dataschema\":" + JSONText.quoted(dataSchema)) }
        for name in extensions.keys.sorted() {
            parts.append(JSONText.quoted(name) + ":" + String(decoding: extensions[name]!, as: UTF8.self))
        }
        var out = Data(("{" + parts.joined(separator: ",")).utf8)
        if let data {
            if hasJSONData {
                out += Data(",\"data\":".utf8) + data
            } else {
                out += Data((",\"data_base64\":" + JSONText.quoted(data.base64EncodedString())).utf8)
            }
        }
        out += Data("}".utf8)
        return out
    }

    /// The spec's String type (CloudEvents 1.0, "Type System"): no control characters (U+0000-U+001F,
    /// U+007F-U+009F) and no noncharacters (surrogates cannot occur in a Swift string). A value that breaks it is
    /// a malformed event.
    static func checkedString(_ value: String, attribute: String) throws(CloudEventError) -> String {
        for scalar in value.unicodeScalars {
            let code = scalar.value
            if code < 0x20 || (0x7F...0x9F).contains(code) || (0xFDD0...0xFDEF).contains(code) || code & 0xFFFE == 0xFFFE {
                throw .malformed("attribute '\(attribute)' holds a control character or a noncharacter")
            }
        }
        return value
    }

    /// Extension names are lowercase ASCII letters and digits (spec 1.0 §3.1.1).
    static func isValidExtensionName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
    }
}
