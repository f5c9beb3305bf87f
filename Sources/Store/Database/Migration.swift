import PostgresNIO

/// One numbered schema change held in the binary. Statements run in order, in one transaction.
public struct Migration: Sendable {
    /// The version number; applied in ascending order, recorded in `schema_migrations`.
    public let version: Int
    /// A short name, recorded with the version.
    public let name: String
    /// The statements (one per string: the extended protocol takes one statement at a time).
    public let statements: [String]

    /// Creates a migration.
    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}
