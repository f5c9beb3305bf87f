import Foundation
public import HTTPTypes

/// Request ids: the caller's when well formed (so a chain of services shares one), else a fresh one.
public enum RequestID {
    /// The header that carries it, inbound and outbound.
    public static let headerName = HTTPField.Name("X-Request-ID")!

    /// The inbound id when it is 1-128 characters of `[A-Za-z0-9._:-]`, else a new random one.
    public static func resolve(from headers: HTTPFields) -> String {
        if let inbound = headers[headerName], isWellFormed(inbound) { return inbound }
        return make()
    }

    /// A new id: 32 lowercase hex digits of randomness.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return hex(high) + hex(low)
    }

    /// True for ids safe to log and echo: short, and only characters that cannot smuggle anything.
    public static func isWellFormed(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
