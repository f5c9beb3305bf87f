import ArgumentParser
import Foundation

/// `functions serve`: the Cloud Run entry point (`FUNCTION_TARGET` picks the function, `PORT` the port).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve on 0.0.0.0:$PORT (the container entry point).")

    // The Functions Framework CLIs' flags; each stands for its environment variable and wins over it.
    @Option(help: "The function to serve (FUNCTION_TARGET); unset, every function under /<name>.") var target: String?
    @Option(help: "The port to listen on (PORT, default 8080).") var port: Int?
    @Option(name: .customLong("signature-type"), help: "http or cloudevent (FUNCTION_SIGNATURE_TYPE).") var signatureType: String?

    func run() async throws {
        var environment = ProcessInfo.processInfo.environment
        if let target { environment["FUNCTION_TARGET"] = target }
        if let port { environment["PORT"] = String(port) }
        if let signatureType { environment["FUNCTION_SIGNATURE_TYPE"] = signatureType }
        let configuration: AppConfiguration
        do {
            configuration = try AppConfiguration(environment: environment)
            _ = try configuration.requireDatabase()
        } catch {
            fail(error.description)
        }
        Server.bootstrapLogging(configuration.runtime)
        do {
            try await Server.run(configuration: configuration, migrate: configuration.migrateOnStart)
        } catch let error as CustomStringConvertible {
            fail(error.description)
        }
    }
}
