import Outbound

extension ProviderClient {
    /// One provider client for the whole test process, as a serving process has one (never shut down: it lives as
    /// long as the process).
    static let forTests = ProviderClient()
}
