import Foundation
import Logging
import ServiceLifecycle
import Store

/// `functions maintain` on a timer inside `functions local` (where no Cloud Scheduler runs the job): first after
/// a minute (or `every`, if shorter), then every `every` (an hour by default), until shutdown.
struct LocalMaintenance: Service {
    let database: Database
    let purge: Purge
    let every: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: min(.seconds(60), every))
            while !Task.isCancelled {
                do {
                    let report = try await Maintain.purge(purge, database: database, until: ContinuousClock.now + .seconds(300), logger: logger)
                    logger.info("local maintenance", metadata: ["rows": "\(report.removed.reduce(0) { $0 + $1.1.values.reduce(0, +) })"])
                } catch {
                    logger.warning("local maintenance failed", metadata: ["error_type": "\(type(of: error))"])
                }
                try await Task.sleep(for: every)
            }
        }
    }
}
