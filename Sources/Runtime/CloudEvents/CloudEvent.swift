import Foundation
import Primitives

/// A CloudEvent (spec 1.0) as received: attributes as sent, `data` as the exact bytes sent.
public struct CloudEvent: Sendable, Equatable {
    /// `specversion`; only `1.0` is accepted.
    public var specVersion: String
    /// `id`: unique per source.
    public var id: String
    /// `source`: a URI reference naming the producer.
    public var source: String
    /// `type`: the kind of occurrence, for example `google.cloud.pubsub.topic.v1.messagePublished`.
    public var type: String
    /// `subject`, when present.
    public var subject: String?
    /// `time` exactly as sent (milliseconds and zone kept).
    public var time: String?
    /// `datacontenttype`, when present.
    public var dataContentType: String?
    /// `dataschema`, when present.
    public var dataSchema: String?
    /// Extension attributes: each value as a JSON fragment (a string in binary mode; any scalar in structured).
    public var extensions: [String: Data]
    /// The payload bytes: JSON text when the content type is JSON, else the raw (base64-decoded) bytes.
    public var data: Data?

    /// Creates an event.
    public init(
        id: String,
        source: String,
        type: String,
        specVersion: String = "1.0",
        subject: String? = nil,
        time: String? = nil,
        dataContentType: String? = nil,
        dataSchema: String? = nil,
        extensions: [String: Data] = [:],
        data: Data? = nil
    ) {
        self.specVersion = specVersion
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time
        self.dataContentType = dataContentType
        self.dataSchema = dataSchema
        self.extensions = extensions
        self.data = data
    }

    /// True when `datacontenttype` is JSON (absent counts as JSON, as the spec's JSON format says).
    public var hasJSONData: Bool {
        guard let type = dataContentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        else { return true }
        return type == "application/json" || type == "text/json" || type.hasSuffix("+json")
    }

    /// The value of a string extension attribute.
    public func extensionString(_ name: String) -> String? {
        guard let raw = extensions[name] else { return nil }
        if raw.first == UInt8(ascii: "\""), let object = try? RawJSONObject(parsing: Data("{\"v\":".utf8) + raw + Data("}".utf8)) {
            return try? object.string("v")
        }
        return String(decoding: raw, as: UTF8.self)
    }

    /// Decodes `data` as JSON into `type`.
    public func decodeData<T: Decodable>(as type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard let data else { throw CloudEventError.malformed("event has no data") }
        return try decoder.decode(T.self, from: data)
    }
}

/// Why a request is not a valid CloudEvent. Becomes a 400.
public enum CloudEventError: Error, Sendable, Equatable {
    /// A required attribute is missing.
    case missingAttribute(String)
    /// The specversion is not 1.0.
    case unsupportedSpecVersion
    /// The body or an attribute is malformed.
    case malformed(String)
}

extension CloudEventError {
    /// A 400 with a stable code, naming the attribute but never echoing input.
    var httpError: HTTPError {
        switch self {
        case .missingAttribute(let name):
            return .badRequest("CloudEvent is missing the required attribute '\(name)'.", code: "malformed_cloudevent")
        case .unsupportedSpecVersion:
            return .badRequest("CloudEvent specversion must be 1.0.", code: "malformed_cloudevent")
        case .malformed(let why):
            return .badRequest("Malformed CloudEvent: \(why).", code: "malformed_cloudevent")
        }
    }
}
