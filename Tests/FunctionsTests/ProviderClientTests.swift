import Logging
import Outbound
import ServiceLifecycle
import Testing
import TestSupport

@Suite("the provider client: one per process, closed with the service group", .machineShare)
struct ProviderClientTests {
    @Test("every caller gets the same client, and the service ends (closing it) when the group shuts down")
    func oneClientClosedOnShutdown() async throws {
        let providers = ProviderClient()
        let first = providers.client
        #expect(first === providers.client)
        var logger = Logger(label: "providers")
        logger.logLevel = .critical
        let group = ServiceGroup(services: [providers], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        // Shut down once: a second shutdown (a command that also closes it) is a no-op, not a crash.
        await providers.shutdown()
    }
}
