import Foundation
import Primitives

/// A request body's top-level fields, from JSON, `application/x-www-form-urlencoded` or `multipart/form-data`:
/// the three body kinds Django REST framework's default parsers accept.
public struct RequestFields: Sendable {
    /// One field's value.
    public enum Value: Sendable, Equatable {
        /// A string (every form value is one).
        case string(String)
        /// A JSON number, as written.
        case number(String)
        /// A JSON boolean.
        case bool(Bool)
        /// JSON `null`.
        case null
        /// A JSON object or array.
        case structured
    }

    /// Why a body could not be read.
    public enum Failure: Error, Sendable, Equatable {
        /// The JSON is malformed; the text says where (never what).
        case malformedJSON(String)
        /// A content type none of the parsers takes.
        case unsupportedMediaType(String)
        /// A multipart body that does not parse.
        case malformedMultipart
        /// A JSON object that names a top-level key twice (which of the two counts is up to the parser).
        case duplicateKey
    }

    /// The fields by name; for repeated form fields the last value wins, as in a Django `QueryDict` lookup.
    public let values: [String: Value]

    /// Parses `request`'s body according to its content type (JSON when there is none and the body looks like it).
    public init(request: FunctionRequest) throws(Failure) {
        let mediaType = request.mediaType ?? "application/json"
        switch mediaType {
        case "application/json", "text/json":
            values = try Self.json(request.body)
        case "application/x-www-form-urlencoded":
            let text = String(decoding: request.body, as: UTF8.self)
            values = Dictionary(FormURLEncoding.decode(text).map { ($0.name, Value.string($0.value)) }, uniquingKeysWith: { _, last in last })
        case "multipart/form-data":
            values = try Self.multipart(request.body, contentType: request.headers[.contentType] ?? "")
        default:
            guard mediaType.hasSuffix("+json") else {
                let shown = mediaType.utf8.count <= 100 && mediaType.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "\"" } ? mediaType : "unknown"
                throw .unsupportedMediaType(shown)
            }
            values = try Self.json(request.body)
        }
    }

    /// The value of `name`, nil when absent.
    public subscript(name: String) -> Value? { values[name] }

    static func json(_ body: Data) throws(Failure) -> [String: Value] {
        let object: RawJSONObject
        do {
            object = try RawJSONObject(parsing: body)
        } catch {
            if body.isEmpty || body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
                throw .malformedJSON("Expecting value: line 1 column 1 (char 0)")
            }
            if error.isDuplicateKey { throw .duplicateKey }
            throw .malformedJSON(error.message)
        }
        var values: [String: Value] = [:]
        for (key, raw) in object.members {
            switch raw.first {
            case UInt8(ascii: "\""):
                var scanner = JSONScanner(bytes: [UInt8](raw))
                values[key] = (try? scanner.string()).map(Value.string) ?? .null
            case UInt8(ascii: "t"): values[key] = .bool(true)
            case UInt8(ascii: "f"): values[key] = .bool(false)
            case UInt8(ascii: "n"): values[key] = .null
            case UInt8(ascii: "{"), UInt8(ascii: "["): values[key] = .structured
            default: values[key] = .number(String(decoding: raw, as: UTF8.self))
            }
        }
        return values
    }
}
