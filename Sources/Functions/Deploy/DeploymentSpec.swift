import Foundation
import Yams

/// `functions.yaml` as data: the image, the shared defaults and each function's deployment.
struct DeploymentSpec: Decodable, Sendable {
    struct Schedule: Decodable, Sendable {
        var cron: String
        var route: String
    }

    struct Function: Decodable, Sendable {
        var name: String
        var trigger: String
        var routes: [String]
        var access: String
        var env: [String: String]
        var secrets: [String: String]
        var schedule: [Schedule]
        var cpu: String
        var memory: String
        var concurrency: Int
        var timeout_seconds: Int
        var min_instances: Int
        var max_instances: Int
        var service_account: String
    }

    struct Defaults: Decodable, Sendable {
        var env: [String: String]
        var secrets: [String: String]
    }

    var image: String
    var region: String
    var cloudsql_instance: String
    var defaults: Defaults
    var functions: [Function]

    /// Reads and decodes a `functions.yaml`.
    static func load(_ url: URL) throws -> DeploymentSpec {
        try YAMLDecoder().decode(DeploymentSpec.self, from: String(contentsOf: url, encoding: .utf8))
    }
}
