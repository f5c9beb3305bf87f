import Testing

/// How much of the machine a test takes while it runs.
///
/// Swift Testing starts every test of the run at once. On two cores, 200 tests that start servers, processes and
/// databases together, beside one that floods a function with 10,000 requests for 25 s, stretch a 2 s deadline past
/// itself: a different timing-sensitive test failed in each loaded run, always passing alone. So the suites that
/// run real servers, processes or PostgreSQL take a share: at most `MachineShare.capacity` of their tests run at
/// once, and a test marked `.wholeMachine` (a flood, a cost measurement) runs with none of them beside it.
/// Pure unit suites take no share and run freely.
///
/// Apply `.machineShare` to a suite (it applies to each of its tests) and `.wholeMachine` to a test.
public struct MachineShare: TestTrait, SuiteTrait, TestScoping {
    /// Tests of the sharing suites that may run at once.
    public static let capacity = 6

    let weight: Int

    public var isRecursive: Bool { true }

    /// Each test case takes its share for the time it runs; a suite takes none itself (its tests do), and a test's
    /// own larger share replaces its suite's (taking both would wait for itself).
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> MachineShare? {
        if test.isSuite || testCase == nil { return nil }
        let larger = test.traits.contains { ($0 as? MachineShare).map { $0.weight > weight } ?? false }
        return larger ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await MachineGate.shared.acquire(weight)
        do {
            try await function()
        } catch {
            await MachineGate.shared.release(weight)
            throw error
        }
        await MachineGate.shared.release(weight)
    }
}

extension Trait where Self == MachineShare {
    /// One of `MachineShare.capacity` shares: the suite's tests run beside at most five others of the sharing suites.
    public static var machineShare: MachineShare { MachineShare(weight: 1) }

    /// Every share: the test runs alone among the sharing suites (it loads the machine, or measures on a quiet one).
    public static var wholeMachine: MachineShare { MachineShare(weight: MachineShare.capacity) }
}

/// A weighted semaphore, first come first served, so a test that needs every share is not passed over forever by
/// tests that need one.
actor MachineGate {
    static let shared = MachineGate(capacity: MachineShare.capacity)

    private var available: Int
    private var waiting: [(weight: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(capacity: Int) { available = capacity }

    func acquire(_ weight: Int) async {
        if waiting.isEmpty && available >= weight {
            available -= weight
            return
        }
        await withCheckedContinuation { waiting.append((weight, $0)) }
    }

    func release(_ weight: Int) {
        available += weight
        while let first = waiting.first, first.weight <= available {
            waiting.removeFirst()
            available -= first.weight
            first.continuation.resume()
        }
    }
}
