import Foundation
public import HTTPTypes
import Primitives

/// Request ids: the caller's when well formed (so a chain of services shares one), else a fresh one.
public enum RequestID {
    /// The header that carries it, inbound and outbound.
    public static let headerName = HTTPField.Name.xRequestID

    /// The inbound id when it is 1-128 characters of `[A-Za-z0-9._:-]`, else a new random one.
    public static func resolve(from headers: HTTPFields) -> String {
        if let inbound = headers[headerName], isWellFormed(inbound) { return inbound }
        return make()
    }

    /// A new id: 32 lowercase hex digits, unique in this process and unpredictable from outside it.
    ///
    /// The first 16 digits are random per process, the last 16 the next ``SamplingRandom`` value (a bijection of a
    /// process-wide counter, so it never repeats within an instance and reveals no count), at no system call per
    /// request (asking the kernel for 16 random bytes on every request did, twice).
    public static func make() -> String {
        var random = SamplingRandom()
        let halves = (processPrefix.bigEndian, random.next().bigEndian)
        return withUnsafeBytes(of: halves) { Hex.lowercase($0) }
    }

    private static let processPrefix = UInt64.random(in: .min ... .max)

    /// True for ids safe to log and echo: short, and only characters that cannot smuggle anything.
    public static func isWellFormed(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: ":")
        }
    }
}
