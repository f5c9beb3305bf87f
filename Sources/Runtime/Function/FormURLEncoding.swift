import Foundation

/// `application/x-www-form-urlencoded` decoding, shared by query strings and form bodies.
///
/// Hand-written rather than Hummingbird's `URLEncodedFormDecoder`, because the two read forms differently and
/// the replaced system's clients expect Django's reading (`QueryDict`): names are flat (`user[name]` is one field,
/// where Hummingbird nests it), a repeated name is not an error (the last value counts), and a malformed percent
/// escape is kept as written (Hummingbird refuses the form). Hummingbird's decoder fills `Decodable` types; these
/// callers want the fields as they came.
public enum FormURLEncoding {
    /// Splits `a=1&b=2` into decoded pairs; malformed percent escapes are kept literally.
    public static func decode(_ string: String) -> [(name: String, value: String)] {
        string.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = unescape(parts[0])
            let value = parts.count > 1 ? unescape(parts[1]) : ""
            return (name, value)
        }
    }

    private static func unescape(_ part: Substring) -> String {
        let spaced = part.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
