import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Store
import Synchronization

/// Cloud Scheduler inside `functions local`: each `schedule` of `functions.yaml` (the drains) is a POST to the
/// runner's own route, and the `maintenance` schedule runs `functions maintain`, on their cron (checked each
/// minute) or, with `--tick-seconds`, all of them every that many seconds. Each tick prints one line.
struct LocalScheduler: Service {
    /// What one schedule does.
    enum Action: Sendable {
        /// POST to a function's route on the runner (`/<function><path>`), as Cloud Scheduler would.
        case post(function: String, path: String)
        /// The retention purge.
        case maintain
    }

    struct Job: Sendable {
        var cron: CronSchedule
        var action: Action
    }

    let jobs: [Job]
    /// Every job every `tick` instead of on its cron.
    let tick: Duration?
    /// The runner's port, once it listens.
    let port: LocalPort
    let database: Database
    let purge: Purge
    /// Sent as a bearer token when `INTERNAL_API_TOKEN` guards the private routes.
    let internalToken: String?
    let say: @Sendable (String) -> Void

    /// The jobs of `spec`: each function's schedules and the maintenance job.
    static func jobs(from spec: DeploymentSpec) -> [Job] {
        var jobs: [Job] = []
        for function in spec.functions {
            for schedule in function.schedule {
                guard let cron = CronSchedule(schedule.cron) else { continue }
                let path = String(schedule.route.split(separator: " ").last ?? "/")
                jobs.append(Job(cron: cron, action: .post(function: function.name, path: path)))
            }
        }
        if let maintenance = spec.maintenance, let cron = CronSchedule(maintenance.schedule) {
            jobs.append(Job(cron: cron, action: .maintain))
        }
        return jobs
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
            configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 4)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            defer { _ = client.shutdown() }
            var listening: Int?
            while listening == nil {
                try await Task.sleep(for: .milliseconds(100))
                listening = port.value.withLock { $0 }
            }
            guard let listening else { return }
            while !Task.isCancelled {
                let due: [Job]
                if let tick {
                    try await Task.sleep(for: tick)
                    due = jobs
                } else {
                    // The next minute boundary, then the jobs whose cron it matches.
                    let now = Date().timeIntervalSince1970
                    try await Task.sleep(for: .seconds(60 - now.truncatingRemainder(dividingBy: 60) + 0.05))
                    let minute = Date()
                    due = jobs.filter { $0.cron.matches(minute) }
                }
                guard !due.isEmpty else { continue }
                var parts: [String] = []
                for job in due { parts.append(await run(job, client: client, port: listening)) }
                say("scheduler: " + parts.joined(separator: "; "))
            }
        }
    }

    /// The jobs, how often to run them, and where the runner listens (set from `onListening`).
    struct Setup: Sendable {
        var jobs: [Job]
        var tick: Duration?
        var port: LocalPort
    }

    /// Runs one job and says in a few words what it did.
    func run(_ job: Job, client: HTTPClient, port: Int) async -> String {
        switch job.action {
        case .post(let function, let path):
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/\(function)\(path)")
            request.method = .POST
            if let internalToken { request.headers.add(name: "Authorization", value: "Bearer \(internalToken)") }
            do {
                let response = try await client.execute(request, timeout: .seconds(300))
                let body = try await response.body.collect(upTo: 64 * 1024)
                return "POST /\(function)\(path) \(response.status.code) \(String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines))"
            } catch {
                return "POST /\(function)\(path) failed: \(error)"
            }
        case .maintain:
            do {
                let report = try await Maintain.purge(purge, database: database, until: ContinuousClock.now + .seconds(300), logger: Logger(label: "maintain"))
                return "maintain: \(report.removed.reduce(0) { $0 + $1.1.values.reduce(0, +) }) rows removed"
            } catch {
                return "maintain failed: \(error)"
            }
        }
    }
}

/// The port the local runner listens on, once it does.
final class LocalPort: Sendable {
    let value = Mutex<Int?>(nil)
}
