import ArgumentParser
import Domain
import Foundation
import Logging
import Store

/// `functions maintain`: removes what the retention policy no longer keeps, in bounded batches, and reports it.
struct Maintain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Purge expired records (RETENTION_*_DAYS) in short batches; safe beside traffic and beside another run.",
        discussion: """
            Audit events are kept RETENTION_AUDIT_DAYS (2557, seven years); received events, published messages, \
            their deliveries and attempts RETENTION_WEBHOOK_DAYS (30) after their last delivery finished; alerts, their \
            sends and attempts RETENTION_ALERT_DAYS (90) after their last send; login failures past their window; refresh \
            tokens an hour past expiry. Nothing pending is removed. Deployed as the Cloud Run Job functions-maintain, \
            run daily by Cloud Scheduler (functions render).
            """
    )

    @Option(help: "Rows per batch (each batch is one short transaction).") var batch: Int = 5000
    @Option(help: "Stop starting batches after this many seconds (a daily run resumes where this one stopped).") var budget: Int = 3000
    @Option(help: "After each batch, pause this many times as long as the batch took (0: no pause).") var pause: Double = 1

    func run() async throws {
        let configuration = try await loadConfiguration()
        let purge = Purge(policy: configuration.retention, failureWindow: Double(configuration.auth.failureWindow), batchSize: min(max(batch, 1), 100_000))
        let deadline = ContinuousClock.now + .seconds(max(budget, 1))
        let report = try await withAdminDatabase { database, _, logger in
            try await Self.purge(purge, database: database, until: deadline, pause: max(pause, 0), logger: logger)
        }
        for line in report.lines { say(line) }
        if report.stoppedEarly { say("budget reached: the next run continues") }
    }

    /// What a run removed, per kind and table.
    struct Report: Sendable {
        var removed: [(Purge.Kind, [String: Int])] = []
        var stoppedEarly = false
        var seconds: Double = 0

        var lines: [String] {
            var lines = removed.map { kind, tables in
                let total = tables.values.reduce(0, +)
                let parts = tables.sorted { $0.key < $1.key }.filter { $0.value > 0 }.map { "\($0.key) \($0.value)" }
                return "\(kind.rawValue): \(total) rows removed" + (parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")")
            }
            let total = removed.reduce(0) { $0 + $1.1.values.reduce(0, +) }
            lines.append(String(format: "%d rows in %.1f s", total, seconds))
            return lines
        }
    }

    /// Every kind in turn, batch after batch until a batch removes nothing or `deadline` passes. After a batch that
    /// removed rows it pauses `pause` times as long as the batch took: at the default of 1 a purge takes at most
    /// half of one PostgreSQL backend's time, and traffic beside it keeps the rest of the machine (on two cores a
    /// purge at full speed slowed a drain beside it by a quarter; paused, it stays above 80 % of its rate alone).
    static func purge(
        _ purge: Purge, database: Database, until deadline: ContinuousClock.Instant, pause: Double = 1, logger: Logger
    ) async throws -> Report {
        var report = Report()
        let started = ContinuousClock.now
        for kind in Purge.Kind.allCases {
            var totals: [String: Int] = [:]
            while true {
                guard ContinuousClock.now < deadline else {
                    report.stoppedEarly = true
                    break
                }
                let began = ContinuousClock.now
                let removed = try await database.withConnection { connection in
                    try await purge.batch(kind, now: Date(), on: connection, logger: logger)
                }
                totals.merge(removed, uniquingKeysWith: +)
                if removed.values.reduce(0, +) == 0 { break }
                if pause > 0 { try await Task.sleep(for: (ContinuousClock.now - began) * pause) }
            }
            report.removed.append((kind, totals))
        }
        report.seconds = (ContinuousClock.now - started).seconds
        logger.notice("maintenance done", metadata: ["rows": "\(report.removed.reduce(0) { $0 + $1.1.values.reduce(0, +) })"])
        return report
    }
}
