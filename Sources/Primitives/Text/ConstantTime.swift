/// Comparisons whose running time does not depend on where two secrets first differ.
public enum ConstantTime {
    /// True when `a` and `b` hold the same bytes; time depends only on the lengths.
    public static func equals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        var other = b.makeIterator()
        for byte in a {
            difference |= byte ^ (other.next() ?? 0)
        }
        return difference == 0 && a.count == b.count
    }

    /// Compares two strings by their UTF-8 bytes in constant time.
    public static func equals(_ a: String, _ b: String) -> Bool {
        equals(Array(a.utf8), Array(b.utf8))
    }
}
