import Foundation

extension JSONEncoder {
    /// The one encoder for answers, stored answers and provider payloads: sorted keys (the same value always makes
    /// the same bytes, so a stored answer repeats exactly) and no escaped slashes.
    public static var stable: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }
}
