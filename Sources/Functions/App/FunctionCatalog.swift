import Domain
import Outbound
import Runtime
import Store

/// The functions this executable serves, built with their dependencies. `functions.yaml` must list the
/// same names (a test holds them together).
enum FunctionCatalog {
    /// Every function name, in the order they are registered.
    static let names = ["login", "refresh", "webhook-receive", "webhook-dispatch", "send-alert", "metrics"]

    /// Builds the functions this process serves: the `FUNCTION_TARGET` alone, or all of them. Each one's
    /// settings are required only when it is served (webhook-receive never needs `SECRET_KEY`).
    static func make(
        database: Database, configuration: AppConfiguration, providers: ProviderClient, work: PasswordWork = .shared
    ) throws -> [any HTTPFunction] {
        let target = configuration.runtime.functionTarget
        if let target, !names.contains(target) { throw UnknownFunctionError(target: target, known: names) }
        func served(_ name: String) -> Bool { target == nil || target == name }
        let access = PrivateAccess(token: configuration.internalToken)
        var functions: [any HTTPFunction] = []
        if served("login") || served("refresh") {
            let auth = AuthService(
                database: database, secretKey: try configuration.requireSecretKey(), settings: configuration.auth, es256: configuration.es256Keys,
                acceptHS256Until: configuration.acceptHS256Until, work: work
            )
            if served("login") { functions.append(Login(auth: auth)) }
            if served("refresh") { functions.append(Refresh(auth: auth)) }
        }
        let dispatcher = WebhookDispatcher(database: database, encryption: configuration.encryption, settings: configuration.webhooks, clients: providers)
        if served("webhook-receive") {
            functions.append(
                WebhookReceive(
                    receiver: WebhookReceiver(database: database, encryption: configuration.encryption, dispatcher: dispatcher),
                    maxBodyBytes: configuration.webhooks.maxReceiveBytes
                )
            )
        }
        if served("webhook-dispatch") {
            functions.append(
                WebhookDispatch(
                    dispatcher: dispatcher,
                    rejections: RejectedEvents(database: database),
                    access: access
                )
            )
        }
        if served("send-alert") {
            functions.append(
                SendAlert(
                    alerts: AlertService(
                        database: database, settings: configuration.alerts, encryption: configuration.encryption, providers: providers
                    ),
                    rejections: RejectedEvents(database: database),
                    access: access,
                    defaultRecipients: configuration.alerts.defaultRecipients
                )
            )
        }
        if served("metrics") { functions.append(Metrics(database: database, access: access)) }
        return functions
    }
}
