/// Replaces identifiers that HIPAA Safe Harbor lists, and credentials, in free text before it is logged.
///
/// Regexes cannot find names, so callers log approved keys only; this is the second line of defence for
/// free text (error descriptions, database messages): emails, phone numbers, SSNs, dates, digit runs of six
/// or more, bearer tokens, JWTs and `whsec_` secrets. It scans bytes once; no regex engine on the log path.
public enum PHIScrubber {
    /// The text with every match replaced by a bracketed tag such as `[EMAIL]`.
    public static func scrub(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.contains(where: { isDigit($0) || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "B") })
        else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if let (end, tag) = match(bytes, at: index) {
                out.append(contentsOf: Array(tag.utf8))
                index = end
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Metadata keys whose values are credentials: always replaced whole.
    public static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "secret", "token", "authorization", "cookie", "api_key", "apikey", "dsn", "signature"]
            .contains { lowered.contains($0) }
    }

    private static func match(_ bytes: [UInt8], at index: Int) -> (Int, String)? {
        let atWordStart = index == 0 || !isWordByte(bytes[index - 1])
        if atWordStart, let end = credential(bytes, at: index) { return (end, "[REDACTED]") }
        if atWordStart, isEmailLocal(bytes[index]), let end = email(bytes, at: index) { return (end, "[EMAIL]") }
        if isDigit(bytes[index]) || ((bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "("))
            && index + 1 < bytes.count && isDigit(bytes[index + 1]))
        {
            return digits(bytes, at: index)
        }
        return nil
    }

    /// `Bearer <token>`, `eyJ…` JWTs, `whsec_…` secrets.
    private static func credential(_ bytes: [UInt8], at index: Int) -> Int? {
        if hasPrefix(bytes, at: index, "Bearer ") {
            var end = index + 7
            while end < bytes.count, !isSpace(bytes[end]) { end += 1 }
            return end
        }
        if hasPrefix(bytes, at: index, "whsec_") || hasPrefix(bytes, at: index, "eyJ") {
            var end = index
            while end < bytes.count, isTokenByte(bytes[end]) { end += 1 }
            let isSecret = hasPrefix(bytes, at: index, "whsec_")
            let dots = bytes[index..<end].filter { $0 == UInt8(ascii: ".") }.count
            return isSecret || dots >= 2 ? end : nil
        }
        return nil
    }

    private static func email(_ bytes: [UInt8], at index: Int) -> Int? {
        var at = index
        while at < bytes.count, isEmailLocal(bytes[at]) { at += 1 }
        guard at < bytes.count, bytes[at] == UInt8(ascii: "@"), at > index else { return nil }
        var end = at + 1
        while end < bytes.count, isAlnum(bytes[end]) || bytes[end] == UInt8(ascii: ".") || bytes[end] == UInt8(ascii: "-") {
            end += 1
        }
        while end > at + 1, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        let domain = bytes[(at + 1)..<end]
        guard let lastDot = domain.lastIndex(of: UInt8(ascii: ".")), lastDot > at + 1, end - lastDot - 1 >= 2 else {
            return nil
        }
        return end
    }

    /// A run of digits and separators: a date, an SSN, a phone number or a long number.
    private static func digits(_ bytes: [UInt8], at index: Int) -> (Int, String) {
        var end = index
        var groups: [Int] = []
        var separators: [UInt8] = []
        var current = 0
        while end < bytes.count {
            let byte = bytes[end]
            if isDigit(byte) {
                current += 1
            } else if isRunSeparator(byte), end + 1 < bytes.count,
                isDigit(bytes[end + 1]) || (byte != UInt8(ascii: "(") && bytes[end + 1] == UInt8(ascii: "("))
                    || (byte == UInt8(ascii: ")") && bytes[end + 1] == UInt8(ascii: " "))
            {
                if current > 0 { groups.append(current) }
                current = 0
                separators.append(byte)
            } else if byte == UInt8(ascii: ")"), current > 0 {
                groups.append(current)
                current = 0
                separators.append(byte)
            } else {
                break
            }
            end += 1
        }
        if current > 0 { groups.append(current) }
        let total = groups.reduce(0, +)
        let dateSeparators = !separators.isEmpty && separators.allSatisfy { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ".") }
        if dateSeparators, groups == [4, 2, 2] || (groups.count == 3 && groups[0] <= 2 && groups[1] <= 2 && (groups[2] == 2 || groups[2] == 4)) {
            return (end, "[DATE]")
        }
        if groups == [3, 2, 4], separators.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: " ") }) {
            return (end, "[SSN]")
        }
        if total >= 7, groups.count >= 2, !dateSeparators || separators.contains(where: { $0 != UInt8(ascii: ".") }) {
            return (end, "[PHONE]")
        }
        if groups.contains(where: { $0 >= 6 }) {
            return (end, "[NUMBER]")
        }
        // Not sensitive: keep the run as it is and go on after it.
        return (end, String(decoding: bytes[index..<end], as: UTF8.self))
    }

    private static func hasPrefix(_ bytes: [UInt8], at index: Int, _ prefix: String) -> Bool {
        let prefix = Array(prefix.utf8)
        guard index + prefix.count <= bytes.count else { return false }
        return Array(bytes[index..<(index + prefix.count)]) == prefix
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
    private static func isAlnum(_ b: UInt8) -> Bool { isDigit(b) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
    private static func isWordByte(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") || b >= 0x80 }
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == UInt8(ascii: "\"") }
    private static func isTokenByte(_ b: UInt8) -> Bool {
        isAlnum(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: "/") || b == UInt8(ascii: "=")
    }
    private static func isEmailLocal(_ b: UInt8) -> Bool {
        isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "%") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: "-")
    }
    private static func isRunSeparator(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: " ") || b == UInt8(ascii: "/")
            || b == UInt8(ascii: "(") || b == UInt8(ascii: "+")
    }
}
