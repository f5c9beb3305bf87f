import Dispatch

/// Runs blocking work (waiting for a process, reading a pipe to its end) on a Dispatch thread and awaits it, so it
/// does not hold one of the few cooperative threads every test's tasks share: on two cores, a test waiting
/// synchronously for seconds stalled the others' timers and responses (a 500 ms acquire deadline fired after 9 s).
public func offCooperativePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try work() })
        }
    }
}
