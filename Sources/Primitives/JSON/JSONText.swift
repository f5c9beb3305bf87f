import Foundation

/// Writing JSON text by hand where the exact bytes matter (raw `data` passed through untouched).
public enum JSONText {
    /// A JSON string literal for `string`: quotes, backslashes and control characters escaped, nothing else.
    public static func quoted(_ string: String) -> String {
        // Most strings (tokens, ids, codes) need no escaping: one pass over the bytes, no per-scalar appends.
        if string.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) { return "\"" + string + "\"" }
        var out = "\""
        out.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(format: "%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
