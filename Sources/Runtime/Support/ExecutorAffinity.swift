public import NIOCore

/// Where a request's work runs.
///
/// The server handles each connection with its jobs on the connection's event loop (``EventLoopTaskExecutor``):
/// a request is read, handled and answered on the thread that owns its socket, instead of hopping to Swift's
/// global pool and back (a refresh: 1.4 context switches in the server instead of 2.6). Work that fans out (a drain's parallel sends) asks for the global
/// pool instead with ``run(on:_:)``, so that it spreads over every core.
public enum ExecutorAffinity {
    /// The executor the current work prefers (nil: Swift's global pool). Child tasks inherit a preference by
    /// themselves; an unstructured task that should keep it (`Database`'s calls) starts with this one.
    @TaskLocal public static var preferred: (any TaskExecutor)?

    /// Runs `body`, and the child tasks it starts, on `executor`.
    public static func run<T>(
        on executor: any TaskExecutor,
        _ body: () async throws -> T
    ) async rethrows -> T {
        try await withTaskExecutorPreference(executor) {
            try await $preferred.withValue(executor) { try await body() }
        }
    }
}

/// A task executor that runs jobs on one NIO event loop.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
