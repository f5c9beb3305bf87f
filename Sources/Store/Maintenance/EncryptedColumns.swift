/// Every column that holds a Fernet token when its row says so: what `functions rotate-encryption` re-encrypts,
/// and what `docs/data.md` lists. Names here are fixed identifiers, never input.
public struct EncryptedColumns: Sendable {
    /// What a column holds.
    public enum Kind: Sendable {
        /// A secret: encrypted whenever a key is set.
        case secret
        /// What may carry health data: encrypted in `REAL_DATA_MODE`.
        case payload
    }

    /// The table.
    public let table: String
    /// Its primary key's columns and their SQL types, for keyset batches.
    public let key: [(name: String, type: String)]
    /// The columns one flag covers; `bytea` columns hold the token's ASCII bytes.
    public let columns: [(name: String, bytes: Bool)]
    /// The boolean column that says the row's columns are tokens.
    public let flag: String
    public let kind: Kind
    /// Whether a row in clear is sealed in place (false where sealing moves values between columns).
    public let sealsInPlace: Bool

    init(table: String, key: [(String, String)] = [("id", "uuid")], columns: [(String, Bool)], flag: String, kind: Kind, sealsInPlace: Bool = true) {
        self.table = table
        self.key = key.map { (name: $0.0, type: $0.1) }
        self.columns = columns.map { (name: $0.0, bytes: $0.1) }
        self.flag = flag
        self.kind = kind
        self.sealsInPlace = sealsInPlace
    }

    /// The row's key as text (`a/b` for a key of two columns).
    public var keyText: String {
        key.count == 1 ? "\(key[0].name)::text" : "concat_ws('/', \(key.map { "\($0.name)::text" }.joined(separator: ", ")))"
    }

    /// Every encrypted column group.
    public static let all: [EncryptedColumns] = [
        EncryptedColumns(
            table: "webhook_sources", key: [("id", "bigint")], columns: [("secret", false), ("previous_secret", false)], flag: "secrets_encrypted",
            kind: .secret
        ),
        EncryptedColumns(table: "webhook_endpoints", columns: [("secret", false), ("previous_secret", false)], flag: "secrets_encrypted", kind: .secret),
        EncryptedColumns(table: "webhook_events", columns: [("payload", true)], flag: "payload_encrypted", kind: .payload),
        EncryptedColumns(table: "webhook_messages", columns: [("payload", true)], flag: "payload_encrypted", kind: .payload),
        EncryptedColumns(
            table: "webhook_attempts", key: [("delivery_id", "uuid"), ("attempt", "int")], columns: [("response_body", false)],
            flag: "response_encrypted", kind: .payload
        ),
        EncryptedColumns(table: "alerts", columns: [("message", true)], flag: "message_encrypted", kind: .payload),
        // Subject, recipients and links in clear columns would have to move into the token: new rows only.
        EncryptedColumns(table: "alerts", columns: [("sealed_fields", true)], flag: "fields_encrypted", kind: .payload, sealsInPlace: false),
        EncryptedColumns(table: "alert_sends", columns: [("last_error", false)], flag: "last_error_encrypted", kind: .payload),
        EncryptedColumns(
            table: "alert_send_attempts", key: [("send_id", "uuid"), ("attempt", "int")], columns: [("error", false)], flag: "error_encrypted",
            kind: .payload
        ),
    ]
}
