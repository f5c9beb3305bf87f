import Domain
import Runtime

/// The functions this executable serves, built with their dependencies. `functions.yaml` must list the
/// same names (a test holds them together).
enum FunctionCatalog {
    /// Every function name, in the order they are registered.
    static let names = ["metrics"]

    /// Builds every function.
    static func make(database: Database, configuration: AppConfiguration) -> [any HTTPFunction] {
        let access = PrivateAccess(token: configuration.internalToken)
        return [
            Metrics(database: database, access: access)
        ]
    }
}
