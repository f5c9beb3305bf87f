#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Cryptographically secure random bytes for ids, token ids and IVs, without a system call per value.
///
/// The bytes come from the kernel's CSPRNG (`arc4random_buf`: `getrandom` on glibc 2.36, the Dockerfile's
/// bookworm), fetched 4 KiB at a time into one process-wide block and handed out in order; each byte is zeroed as
/// it leaves, so none is given twice or stays behind. (swift-crypto's `SymmetricKey(size:)` and
/// `SystemRandomNumberGenerator` make one `getrandom` call per 8 bytes on Linux: a refresh spent six on its two
/// token ids.) Requests larger than a quarter block go straight to the kernel. The process never forks without
/// exec, so no child can repeat the block.
public enum SecureRandom {
    static let blockSize = 4096
    /// The block; read and written only under `offset`'s lock.
    private nonisolated(unsafe) static let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 16)
    /// Where the unused bytes of `block` start (`blockSize`: none left, fetch a new block).
    private static let offset = Mutex(blockSize)

    /// Fills `destination` with random bytes.
    public static func fill(_ destination: UnsafeMutableRawBufferPointer) {
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        if destination.count > blockSize / 4 {
            arc4random_buf(base, destination.count)
            return
        }
        offset.withLock { offset in
            var written = 0
            while written < destination.count {
                if offset == blockSize {
                    arc4random_buf(block.baseAddress!, blockSize)
                    offset = 0
                }
                let count = min(destination.count - written, blockSize - offset)
                let source = UnsafeMutableRawBufferPointer(rebasing: block[offset..<offset + count])
                UnsafeMutableRawBufferPointer(rebasing: destination[written..<written + count]).copyMemory(from: UnsafeRawBufferPointer(source))
                source.initializeMemory(as: UInt8.self, repeating: 0)
                offset += count
                written += count
            }
        }
    }

    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }
}
