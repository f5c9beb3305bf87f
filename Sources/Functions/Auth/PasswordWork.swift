import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// A small dedicated thread pool for password hashing, so PBKDF2 (hundreds of milliseconds of CPU) never
/// runs on an event loop or a cooperative-pool thread: a login flood queues here while `/health` and every
/// other request keep their threads.
public struct PasswordWork: Service {
    private let pool: NIOThreadPool

    /// The process-wide pool: one thread per core, at most 4.
    public static let shared = PasswordWork(threads: min(max(System.coreCount, 1), 4))

    /// A pool with `threads` threads.
    public init(threads: Int) {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        self.pool = pool
    }

    /// Lives as a service in the process's service group: on shutdown its threads finish queued work and stop.
    public func run() async throws {
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }

    /// Runs `work` on the pool and returns its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        try await pool.runIfActive {
            Self.yieldToServingThreads()
            return work()
        }
    }

    /// Hashing threads run at nice 10, so on a busy machine the event loops (nice 0) are scheduled first and
    /// `/health` and cheap requests stay fast while logins queue. On Linux a thread's nice value is its own.
    static func yieldToServingThreads() {
        #if os(Linux)
        // who = 0 is the calling thread: under NPTL the nice value is per thread (setpriority(2), BUGS).
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }
}
