/// Waits until `condition` holds, checking it every `interval`, for at most `timeout`; returns whether it held.
///
/// Tests wait on what they need (a connection opened, a request answered) instead of a fixed pause, which a loaded
/// machine outruns; the expectations after the wait say what was missing if the time ran out.
@discardableResult
public func waitUntil(
    timeout: Duration, every interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: interval)
    }
    return true
}
