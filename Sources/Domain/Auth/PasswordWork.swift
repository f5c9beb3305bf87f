import NIOCore
import NIOPosix

/// A small dedicated thread pool for password hashing, so PBKDF2 (hundreds of milliseconds of CPU) never
/// runs on an event loop or a cooperative-pool thread: a login flood queues here while `/health` and every
/// other request keep their threads.
public struct PasswordWork: Sendable {
    private let pool: NIOThreadPool

    /// The process-wide pool: one thread per core, at most 4.
    public static let shared = PasswordWork(threads: min(max(System.coreCount, 1), 4))

    /// A pool with `threads` threads.
    public init(threads: Int) {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        self.pool = pool
    }

    /// Runs `work` on the pool and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await pool.runIfActive(work)
    }
}
