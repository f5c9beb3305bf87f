import ArgumentParser
import Foundation

/// `functions serve`: the Cloud Run entry point (`FUNCTION_TARGET` picks the function, `PORT` the port).
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve on 0.0.0.0:$PORT (the container entry point).")

    func run() async throws {
        let configuration: AppConfiguration
        do {
            configuration = try AppConfiguration(environment: ProcessInfo.processInfo.environment)
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
