import ArgumentParser
import Store

/// `functions rotate-encryption`: every encrypted column re-encrypted with the newest key of
/// `FIELD_ENCRYPTION_KEYS`, in bounded batches; rows no key opens are reported, not fatal.
struct RotateEncryption: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-encryption",
        abstract: "Re-encrypt every encrypted column with the newest key (FIELD_ENCRYPTION_KEYS, newest first); safe to run again.",
        discussion: """
            Put the new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, then run this. Rows \
            the newest key already opens are skipped, so a run that stopped can run again. Rows stored in clear \
            before a key was set are encrypted too (secrets always, payloads in REAL_DATA_MODE). Rows no key opens are \
            listed and left as they are; the command then exits 1. Drop an old key only after a run that reports none.
            """
    )

    @Option(help: "Rows per batch (each batch is one read and one write).") var batch: Int = 500

    func run() async throws {
        let configuration = try await loadConfiguration()
        guard configuration.encryption.hasKey else { fail("rotate-encryption needs FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEY)") }
        let rotation = FieldRotation(encryption: configuration.encryption, batchSize: min(max(batch, 1), 10_000))
        let unreadable = try await withAdminDatabase { database, _, logger in
            var unreadable: [(String, String)] = []
            for group in EncryptedColumns.all {
                var total = FieldRotation.Batch()
                var after: String?
                repeat {
                    let from = after
                    let batch = try await database.withConnection { connection in
                        try await rotation.batch(group, after: from, on: connection, logger: logger)
                    }
                    after = batch.last
                    total.scanned += batch.scanned
                    total.resealed += batch.resealed
                    total.sealed += batch.sealed
                    total.changedMeanwhile += batch.changedMeanwhile
                    total.unreadable += batch.unreadable
                } while after != nil
                let name = "\(group.table)(\(group.columns.map(\.name).joined(separator: ", ")))"
                var line = "\(name): \(total.scanned) scanned, \(total.resealed) re-encrypted, \(total.sealed) encrypted from clear"
                line += ", \(total.unreadable.count) unreadable"
                if total.changedMeanwhile > 0 { line += ", \(total.changedMeanwhile) changed meanwhile (run again)" }
                say(line)
                unreadable += total.unreadable.map { (group.table, $0) }
            }
            return unreadable
        }
        guard unreadable.isEmpty else {
            for (table, key) in unreadable.prefix(100) { say("unreadable: \(table) \(key)") }
            if unreadable.count > 100 { say("… and \(unreadable.count - 100) more") }
            fail("\(unreadable.count) rows hold tokens no key in FIELD_ENCRYPTION_KEYS opens")
        }
    }
}
