import Domain
import Foundation
public import Logging
public import PostgresNIO
import Primitives

/// Re-encrypts stored tokens with the newest key (`functions rotate-encryption`), one bounded batch at a time.
///
/// Each batch reads up to `batchSize` rows after the last key seen and writes back only the rows that changed, in
/// one statement that changes a row only if its columns still hold what was read (a secret replaced meanwhile is
/// left to the next run). Tokens the newest key already opens are not written, so a run that stopped can simply
/// run again. Rows stored in clear before a key was set are sealed too, as new rows would be: secrets whenever a
/// key is set, payloads in `REAL_DATA_MODE`. A token no key opens is reported by its row's key and left alone.
public struct FieldRotation: Sendable {
    /// What one batch did.
    public struct Batch: Sendable {
        /// The key of the last row read; nil when the table has no more rows.
        public var last: String?
        public var scanned = 0
        /// Tokens of an older key, now of the newest.
        public var resealed = 0
        /// Rows that were in clear, now encrypted.
        public var sealed = 0
        /// Rows that changed between reading and writing (left to the next run).
        public var changedMeanwhile = 0
        /// Keys of rows with a token no key opens.
        public var unreadable: [String] = []

        public init() {}
    }

    let encryption: FieldEncryption
    let batchSize: Int

    /// Rotation to `encryption`'s newest key, `batchSize` rows per statement.
    public init(encryption: FieldEncryption, batchSize: Int = 500) {
        self.encryption = encryption
        self.batchSize = max(1, batchSize)
    }

    /// Whether rows of `group` stored in clear are sealed now.
    func sealsClear(_ group: EncryptedColumns) -> Bool {
        guard encryption.hasKey, group.sealsInPlace else { return false }
        switch group.kind {
        case .secret: return true
        case .payload: return encryption.encryptPayloads
        }
    }

    /// The next batch of `group` after the row keyed `after` (from the start when nil).
    public func batch(_ group: EncryptedColumns, after: String?, on connection: PostgresConnection, logger: Logger) async throws -> Batch {
        let read = group.columns.map { $0.bytes ? $0.name : "convert_to(\($0.name), 'UTF8')" }.joined(separator: ", ")
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(sealsClear(group))
        bindings.append(batchSize)
        var keyCondition = ""
        if let after {
            bindings.append(after)
            keyCondition = "AND (\(group.key.map(\.name).joined(separator: ", "))) > (\(Self.parts(of: "$3", group)))"
        }
        let select = PostgresQuery(
            unsafeSQL: """
                SELECT \(group.keyText), \(group.flag), \(read) FROM \(group.table)
                WHERE (\(group.flag) OR $1::boolean) \(keyCondition) ORDER BY \(group.key.map(\.name).joined(separator: ", ")) LIMIT $2::int
                """,
            binds: bindings
        )
        var batch = Batch()
        var changes: [(key: String, old: [String], new: [String])] = []
        for try await row in try await connection.query(select, logger: logger) {
            let cells = row.makeRandomAccess()
            let key = try cells[0].decode(String.self)
            let encrypted = try cells[1].decode(Bool.self)
            var values: [Data?] = []
            for index in group.columns.indices { values.append(try cells[index + 2].decode(Data?.self)) }
            batch.last = key
            batch.scanned += 1
            switch change(values, encrypted: encrypted) {
            case .none: break
            case .unreadable: batch.unreadable.append(key)
            case .write(let new):
                changes.append((key, values.map { $0.map(Hex.lowercase) ?? Self.null }, new.map { $0 ?? Self.null }))
                if encrypted { batch.resealed += 1 } else { batch.sealed += 1 }
            }
        }
        guard !changes.isEmpty else { return batch }
        let written = try await write(changes, group, on: connection, logger: logger)
        batch.changedMeanwhile = changes.count - written
        if batch.changedMeanwhile > 0 {
            // Which ones is not known: the counts say what was attempted, the next run writes the rest.
            logger.notice("rows changed while being rotated", metadata: ["table": "\(group.table)", "rows": "\(batch.changedMeanwhile)"])
        }
        return batch
    }

    /// What to write for one row.
    enum Change {
        case none
        case unreadable
        case write([String?])
    }

    /// A row's new tokens: resealed when encrypted, sealed when in clear (and clear rows are being sealed).
    func change(_ values: [Data?], encrypted: Bool) -> Change {
        var new: [String?] = []
        var changed = false
        for value in values {
            guard let value else {
                new.append(nil)
                continue
            }
            if encrypted {
                guard let token = String(data: value, encoding: .utf8) else { return .unreadable }
                switch encryption.reseal(token) {
                case .current: new.append(token)
                case .resealed(let token):
                    new.append(token)
                    changed = true
                case .unreadable: return .unreadable
                }
            } else {
                guard let token = try? encryption.seal(value) else { return .none }
                new.append(token)
                changed = true
            }
        }
        return changed ? .write(new) : .none
    }

    /// Writes `changes` in one statement where each row still holds what was read; returns the rows written.
    func write(_ changes: [(key: String, old: [String], new: [String])], _ group: EncryptedColumns, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        var bindings = PostgresBindings(capacity: 1 + 2 * group.columns.count)
        bindings.append(changes.map(\.key))
        var names = ["key"]
        var sets = ["\(group.flag) = true"]
        var conditions = ["(\(group.key.map { "t.\($0.name)" }.joined(separator: ", "))) = (\(Self.parts(of: "u.key", group)))"]
        for (index, column) in group.columns.enumerated() {
            bindings.append(changes.map { $0.old[index] })
            bindings.append(changes.map { $0.new[index] })
            names += ["old\(index)", "new\(index)"]
            let new = "NULLIF(u.new\(index), '\(Self.null)')"
            sets.append("\(column.name) = " + (column.bytes ? "convert_to(\(new), 'UTF8')" : new))
            let stored = column.bytes ? "t.\(column.name)" : "convert_to(t.\(column.name), 'UTF8')"
            conditions.append("coalesce(encode(\(stored), 'hex'), '\(Self.null)') = u.old\(index)")
        }
        let arrays = (1...names.count).map { "$\($0)::text[]" }.joined(separator: ", ")
        let update = PostgresQuery(
            unsafeSQL: """
                UPDATE \(group.table) t SET \(sets.joined(separator: ", "))
                FROM unnest(\(arrays)) AS u(\(names.joined(separator: ", ")))
                WHERE \(conditions.joined(separator: " AND ")) RETURNING 1
                """,
            binds: bindings
        )
        var written = 0
        for try await _ in try await connection.query(update, logger: logger) { written += 1 }
        return written
    }

    /// The key columns' values out of key text (``EncryptedColumns/keyText``), typed.
    static func parts(of text: String, _ group: EncryptedColumns) -> String {
        group.key.enumerated().map { "split_part(\(text), '/', \($0.offset + 1))::\($0.element.type)" }.joined(separator: ", ")
    }

    /// What stands for NULL in the text arrays (no token, and no hex, is "-").
    static let null = "-"
}
