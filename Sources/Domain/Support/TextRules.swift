/// What text a field may hold, judged on Unicode scalars (never on `Character`s: `"\r\n"` is one `Character`, so a
/// Character test for `"\n"` lets a header injection such as `Hi\r\nBcc: …` through).
public enum TextRules {
    /// A scalar that ends a line somewhere: LF, VT, FF, CR, NEL (U+0085), LINE SEPARATOR (U+2028), PARAGRAPH
    /// SEPARATOR (U+2029).
    public static func endsLine(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// A control character (general category Cc: C0, DEL, C1; NUL, which PostgreSQL `text` cannot hold, among them).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }

    /// A noncharacter (U+FDD0-U+FDEF, and U+xFFFE/U+xFFFF of every plane): never meant for interchange.
    public static func isNoncharacter(_ scalar: Unicode.Scalar) -> Bool {
        (0xFDD0...0xFDEF).contains(scalar.value) || scalar.value & 0xFFFE == 0xFFFE
    }

    /// A scalar that changes how text around it is shown rather than being shown: the bidirectional embeddings,
    /// overrides and isolates (U+202A-U+202E, U+2066-U+2069: "Trojan Source") and the byte order mark.
    public static func isDisplayControl(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value) || scalar.value == 0xFEFF
    }

    /// One line of text (a subject, a name): no line break of any kind, no control character (a tab is only space),
    /// no noncharacter.
    public static func isOneLine(_ text: some StringProtocol) -> Bool {
        !text.unicodeScalars.contains { ($0 != "\t" && isControl($0)) || endsLine($0) || isNoncharacter($0) }
    }

    /// Free text over several lines (a message): line breaks and tabs, but no other control character (NUL, ESC,
    /// backspace, C1) and no noncharacter.
    public static func isMultiLine(_ text: some StringProtocol) -> Bool {
        !text.unicodeScalars.contains { (isControl($0) && $0 != "\t" && !endsLine($0)) || isNoncharacter($0) }
    }

    /// An identifier (a key, an id, an address, a URL, a type): no control character, no tab, no line break, no
    /// noncharacter, and nothing that reorders or hides what is shown around it.
    public static func isToken(_ text: some StringProtocol) -> Bool {
        !text.unicodeScalars.contains { isControl($0) || endsLine($0) || isNoncharacter($0) || isDisplayControl($0) }
    }
}
