/// Every column that holds a Fernet token when its row says it is encrypted: what `functions rotate-encryption`
/// re-encrypts, and what `docs/data.md` lists. Names here are fixed identifiers, never input.
public struct EncryptedColumns: Sendable {
    /// What a column holds.
    public enum Kind: Sendable {
        /// A secret: encrypted whenever a key is set.
        case secret
        /// Data that may carry health data: encrypted in `REAL_DATA_MODE`.
        case payload
    }

    /// The table.
    public let table: String
    /// Its primary key column's SQL type (`uuid` or `bigint`), for keyset batches.
    public let keyType: String
    /// The columns one flag covers; `bytea` columns hold the token's ASCII bytes.
    public let columns: [(name: String, bytes: Bool)]
    /// The boolean column that says the row's columns are tokens.
    public let flag: String
    public let kind: Kind

    /// Every encrypted column group.
    public static let all: [EncryptedColumns] = [
        EncryptedColumns(
            table: "webhook_sources", keyType: "bigint", columns: [("secret", false), ("previous_secret", false)], flag: "secrets_encrypted", kind: .secret
        ),
        EncryptedColumns(
            table: "webhook_endpoints", keyType: "uuid", columns: [("secret", false), ("previous_secret", false)], flag: "secrets_encrypted", kind: .secret
        ),
        EncryptedColumns(table: "webhook_events", keyType: "uuid", columns: [("payload", true)], flag: "payload_encrypted", kind: .payload),
        EncryptedColumns(table: "webhook_messages", keyType: "uuid", columns: [("payload", true)], flag: "payload_encrypted", kind: .payload),
        EncryptedColumns(table: "alerts", keyType: "uuid", columns: [("message", true)], flag: "message_encrypted", kind: .payload),
    ]
}
