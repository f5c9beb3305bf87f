import Domain
import Runtime

/// The functions this executable serves, built with their dependencies. `functions.yaml` must list the
/// same names (a test holds them together).
enum FunctionCatalog {
    /// Every function name, in the order they are registered.
    static let names = ["login", "refresh", "webhook-receive", "webhook-dispatch", "send-alert", "metrics"]

    /// Builds every function.
    static func make(database: Database, configuration: AppConfiguration, work: PasswordWork = .shared) throws -> [any HTTPFunction] {
        let access = PrivateAccess(token: configuration.internalToken)
        let auth = AuthService(database: database, secretKey: try configuration.requireSecretKey(), settings: configuration.auth, work: work)
        return [
            Login(auth: auth),
            Refresh(auth: auth),
            WebhookReceive(
                receiver: WebhookReceiver(database: database, encryption: configuration.encryption),
                maxBodyBytes: configuration.webhooks.maxReceiveBytes
            ),
            WebhookDispatch(
                dispatcher: WebhookDispatcher(database: database, encryption: configuration.encryption, settings: configuration.webhooks),
                access: access,
                immediateBudget: configuration.webhooks.immediateBudget
            ),
            SendAlert(
                alerts: AlertService(database: database, settings: configuration.alerts, encryption: configuration.encryption),
                access: access,
                defaultRecipients: configuration.alerts.defaultRecipients
            ),
            Metrics(database: database, access: access),
        ]
    }
}
