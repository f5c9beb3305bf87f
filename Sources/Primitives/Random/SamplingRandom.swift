import Synchronization

/// A fast random source for choices that need no secrecy: which counter shard to bump, whether this request
/// prunes, how much jitter a retry gets. Not for keys, salts, IVs or tokens.
///
/// `SystemRandomNumberGenerator` asks the kernel (`getrandom`) for every value, a system call per choice; this is
/// SplitMix64 over one process-wide atomic state (seeded once from the system), so it is lock-free and safe to
/// use from any task.
public struct SamplingRandom: RandomNumberGenerator, Sendable {
    private static let state = Atomic<UInt64>(UInt64.random(in: .min ... .max))
    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// A generator; every instance draws from the one process-wide sequence.
    public init() {}

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        Self.mix(Self.state.wrappingAdd(Self.gamma, ordering: .relaxed).newValue)
    }

    /// SplitMix64's finalizer: a bijection on 64-bit values that spreads every input bit over the output.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
