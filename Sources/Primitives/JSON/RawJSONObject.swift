import Foundation

/// The members of a top-level JSON object with each value kept as its exact source bytes.
///
/// CloudEvents must pass `data` through exactly (millisecond timestamps, `null`s, number spellings), which a
/// decode and re-encode would change. This validates the whole document and slices, it does not rebuild.
public struct RawJSONObject: Sendable {
    /// The object's members in source order: key and the raw bytes of the value.
    public let members: [(key: String, value: Data)]

    /// Parses `data`, which must be one JSON object (surrounding whitespace allowed) whose keys are all different: a
    /// repeated key is an error (``JSONSyntaxError/isDuplicateKey``), since parsers disagree on which one wins
    /// (this type's subscript would read the first, Python's `json` and most others the last).
    public init(parsing data: Data) throws(JSONSyntaxError) {
        var scanner = JSONScanner(bytes: [UInt8](data))
        self.members = try scanner.topLevelObject()
    }

    /// The raw bytes of the first member named `key`.
    public subscript(key: String) -> Data? {
        members.first { $0.key == key }?.value
    }

    /// The member `key` as a string, or nil when absent; throws when present but not a string.
    public func string(_ key: String) throws(JSONSyntaxError) -> String? {
        guard let raw = self[key] else { return nil }
        if raw == Data("null".utf8) { return nil }
        guard raw.first == UInt8(ascii: "\"") else { throw JSONSyntaxError(message: "\(key) must be a string") }
        var scanner = JSONScanner(bytes: [UInt8](raw))
        return try scanner.string()
    }

    /// True when `data` is a well-formed JSON object that names a top-level key twice.
    public static func hasDuplicateKeys(_ data: Data) -> Bool {
        guard data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) == UInt8(ascii: "{") else { return false }
        do {
            _ = try RawJSONObject(parsing: data)
            return false
        } catch {
            return error.isDuplicateKey
        }
    }

    /// True when `data` is one well-formed JSON value.
    public static func isValidJSON(_ data: Data) -> Bool {
        var scanner = JSONScanner(bytes: [UInt8](data))
        return (try? scanner.document()) != nil
    }
}

/// A JSON document that is not well formed, or an object that names a key twice.
public struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, without quoting the input.
    public let message: String
    /// True when the document is well formed but its object repeats a top-level key.
    public let isDuplicateKey: Bool

    /// Creates the error.
    public init(message: String, isDuplicateKey: Bool = false) {
        self.message = message
        self.isDuplicateKey = isDuplicateKey
    }

    /// The message.
    public var description: String { message }
}

/// A strict RFC 8259 scanner over bytes, with a nesting limit against hostile input.
package struct JSONScanner {
    let bytes: [UInt8]
    var index = 0
    var depth = 0
    static let maximumDepth = 128

    package init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(JSONSyntaxError) {
        skipWhitespace()
        try value()
        skipWhitespace()
        guard index == bytes.count else { throw error("trailing characters after JSON value") }
    }

    mutating func topLevelObject() throws(JSONSyntaxError) -> [(key: String, value: Data)] {
        skipWhitespace()
        guard peek == UInt8(ascii: "{") else { throw error("expected a JSON object") }
        index += 1
        var members: [(key: String, value: Data)] = []
        var keys = Set<String>()
        var duplicateAt: Int?
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                let keyStart = index
                let key = try string()
                if !keys.insert(key).inserted, duplicateAt == nil { duplicateAt = keyStart }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                let start = index
                depth = 1
                try value()
                members.append((key, Data(bytes[start..<index])))
                skipWhitespace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw error("trailing characters after JSON object") }
        // Reported once the whole document is known to be well formed: a syntax error is the answer to a broken one.
        if let duplicateAt { throw JSONSyntaxError(message: "duplicate key at byte \(duplicateAt)", isDuplicateKey: true) }
        return members
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: "\(message) at byte \(index)") }

    mutating func expect(_ byte: UInt8) throws(JSONSyntaxError) {
        guard peek == byte else { throw error("expected '\(Character(UnicodeScalar(byte)))'") }
        index += 1
    }

    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    mutating func value() throws(JSONSyntaxError) {
        guard let byte = peek else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): try container(close: UInt8(ascii: "}"), keyed: true)
        case UInt8(ascii: "["): try container(close: UInt8(ascii: "]"), keyed: false)
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    mutating func container(close: UInt8, keyed: Bool) throws(JSONSyntaxError) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw error("JSON nested too deeply") }
        index += 1
        skipWhitespace()
        if peek == close {
            index += 1
            depth -= 1
            return
        }
        while true {
            skipWhitespace()
            if keyed {
                _ = try string()
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
            }
            try value()
            skipWhitespace()
            if peek == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect(close)
            depth -= 1
            return
        }
    }

    mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for expected in word.utf8 {
            guard peek == expected else { throw error("invalid literal") }
            index += 1
        }
    }

    mutating func number() throws(JSONSyntaxError) {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { throw error("invalid value") }
        index += 1
        if first != UInt8(ascii: "0") { while let b = peek, isDigit(b) { index += 1 } }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let b = peek, isDigit(b) else { throw error("invalid number") }
            while let b = peek, isDigit(b) { index += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let b = peek, isDigit(b) else { throw error("invalid number") }
            while let b = peek, isDigit(b) { index += 1 }
        }
        guard index > start else { throw error("invalid number") }
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Scans a string literal and returns its decoded value.
    package mutating func string() throws(JSONSyntaxError) -> String {
        try expect(UInt8(ascii: "\""))
        var out: [UInt8] = []
        while true {
            guard let byte = peek else { throw error("unterminated string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = peek else { throw error("unterminated escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard peek == UInt8(ascii: "\\") else { throw error("lone surrogate") }
                        index += 1
                        try expect(UInt8(ascii: "u"))
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("lone surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default: throw error("invalid escape")
                }
            case 0x00..<0x20:
                throw error("control character in string")
            default:
                out.append(byte)
            }
        }
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek else { throw error("invalid escape") }
            index += 1
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid escape")
            }
            value = value << 4 | digit
        }
        return value
    }
}
