import Foundation
import NIOSSL
public import PostgresNIO

/// Where the database is and how to reach it, from `DATABASE_URL` or the `DB_*` variables.
public struct DatabaseConfiguration: Sendable, Equatable {
    /// libpq's `sslmode` values that this client honours.
    public enum SSLMode: String, Sendable, Equatable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, without certificate checks (libpq's default).
        case prefer
        /// TLS always, without certificate checks (libpq's meaning of `require`).
        case require
        /// TLS with the chain checked but not the host name.
        case verifyCA = "verify-ca"
        /// TLS with the chain and the host name checked.
        case verifyFull = "verify-full"
    }

    /// Where the server listens.
    public enum Endpoint: Sendable, Equatable {
        /// TCP host and port.
        case tcp(host: String, port: Int)
        /// A unix socket directory (Cloud SQL's `/cloudsql/PROJECT:REGION:INSTANCE`) and port.
        case unixSocket(directory: String, port: Int)
    }

    /// The server endpoint.
    public var endpoint: Endpoint
    /// The role to log in as.
    public var username: String
    /// The password, if any.
    public var password: String?
    /// The database name.
    public var database: String
    /// The TLS mode (ignored for unix sockets).
    public var sslMode: SSLMode
    /// A PEM file of CA certificates for `verify-ca`/`verify-full` (libpq's `sslrootcert`).
    public var sslRootCertificate: String?
    /// Most connections one instance opens (`DB_POOL_SIZE`, default 10).
    public var maximumConnections: Int
    /// How long a request waits for a connection before it is answered 503 (`DB_ACQUIRE_TIMEOUT_MS`, default 5000).
    public var acquireTimeout: Duration = .seconds(5)
    /// How long one database call may take before the request is answered 503 (`DB_CALL_TIMEOUT_MS`, default
    /// 30000); used by `functions serve`.
    public var callTimeout: Duration = .seconds(30)
    /// Connections kept open even when idle (`DB_POOL_MIN`); nil when unset, which ``serving`` reads as all of
    /// `DB_POOL_SIZE` and one-off commands as none. Connections above it close after 60 s idle. A serving instance
    /// keeps its whole pool by default, as Google's Cloud SQL samples configure theirs (minimum = maximum), so a
    /// request after a quiet minute does not pay for a connection.
    public var minimumConnections: Int?
    /// How often an idle connection is checked with `SELECT 1` (`DB_KEEPALIVE_SECONDS`; 0, the default, turns it
    /// off); worth setting only where a proxy or firewall drops quiet connections (a connection PostgreSQL closes is
    /// noticed and replaced without it).
    public var keepAlive: Duration? = nil

    /// Creates a configuration.
    public init(
        endpoint: Endpoint,
        username: String,
        password: String? = nil,
        database: String,
        sslMode: SSLMode = .prefer,
        sslRootCertificate: String? = nil,
        maximumConnections: Int = 10
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCertificate = sslRootCertificate
        self.maximumConnections = maximumConnections
    }

    /// Reads `DATABASE_URL`, else `DB_NAME`/`DB_USER`/`DB_PASSWORD`/`DB_HOST`/`DB_PORT`/`DB_SSLMODE`.
    /// Returns nil when neither is set.
    public init?(environment: [String: String]) throws(DatabaseConfigurationError) {
        let pool = Int(environment["DB_POOL_SIZE"] ?? "") ?? 10
        guard (1...200).contains(pool) else { throw DatabaseConfigurationError("DB_POOL_SIZE must be from 1 to 200") }
        if let url = environment["DATABASE_URL"], !url.isEmpty {
            try self.init(url: url)
        } else if let name = environment["DB_NAME"], !name.isEmpty {
            let host = environment["DB_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
            guard let port = Int(environment["DB_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "5432"), (1...65535).contains(port) else {
                throw DatabaseConfigurationError("DB_PORT must be a port number")
            }
            let mode = try Self.sslMode(environment["DB_SSLMODE"])
            self.init(
                endpoint: host.hasPrefix("/") ? .unixSocket(directory: host, port: port) : .tcp(host: host, port: port),
                username: environment["DB_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "postgres",
                password: environment["DB_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 },
                database: name,
                sslMode: mode,
                sslRootCertificate: environment["DB_SSLROOTCERT"].flatMap { $0.isEmpty ? nil : $0 }
            )
        } else {
            return nil
        }
        self.maximumConnections = pool
        guard let acquire = Int(environment["DB_ACQUIRE_TIMEOUT_MS"].flatMap { $0.isEmpty ? nil : $0 } ?? "5000"),
            (50...120_000).contains(acquire)
        else { throw DatabaseConfigurationError("DB_ACQUIRE_TIMEOUT_MS must be from 50 to 120000") }
        self.acquireTimeout = .milliseconds(acquire)
        guard let call = Int(environment["DB_CALL_TIMEOUT_MS"].flatMap { $0.isEmpty ? nil : $0 } ?? "30000"),
            (1000...600_000).contains(call), call > acquire
        else { throw DatabaseConfigurationError("DB_CALL_TIMEOUT_MS must be from 1000 to 600000 and above DB_ACQUIRE_TIMEOUT_MS") }
        self.callTimeout = .milliseconds(call)
        if let value = environment["DB_POOL_MIN"], !value.isEmpty {
            guard let minimum = Int(value), (0...pool).contains(minimum) else {
                throw DatabaseConfigurationError("DB_POOL_MIN must be from 0 to DB_POOL_SIZE")
            }
            self.minimumConnections = minimum
        }
        guard let keepAlive = Int(environment["DB_KEEPALIVE_SECONDS"].flatMap { $0.isEmpty ? nil : $0 } ?? "0"), (0...3600).contains(keepAlive) else {
            throw DatabaseConfigurationError("DB_KEEPALIVE_SECONDS must be from 0 to 3600")
        }
        self.keepAlive = keepAlive == 0 ? nil : .seconds(keepAlive)
    }

    /// Parses `postgres://user:pass@host:port/db?sslmode=…&host=/cloudsql/…&sslrootcert=…`.
    public init(url string: String) throws(DatabaseConfigurationError) {
        guard let components = URLComponents(string: string), let scheme = components.scheme,
            scheme == "postgres" || scheme == "postgresql"
        else { throw DatabaseConfigurationError("DATABASE_URL must be a postgres:// URL") }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
            uniquingKeysWith: { _, last in last }
        )
        let port = components.port ?? Int(query["port"] ?? "") ?? 5432
        guard (1...65535).contains(port) else { throw DatabaseConfigurationError("DATABASE_URL has an invalid port") }
        let host = query["host"].flatMap { $0.isEmpty ? nil : $0 } ?? components.percentEncodedHost?.removingPercentEncoding
        let database = components.path.drop { $0 == "/" }.removingPercentEncoding ?? ""
        guard !database.isEmpty else { throw DatabaseConfigurationError("DATABASE_URL must name a database") }
        let endpoint: Endpoint
        if let host, host.hasPrefix("/") {
            endpoint = .unixSocket(directory: host, port: port)
        } else if let host, !host.isEmpty {
            endpoint = .tcp(host: host, port: port)
        } else {
            throw DatabaseConfigurationError("DATABASE_URL must name a host (or ?host=/socket/dir)")
        }
        self.init(
            endpoint: endpoint,
            username: components.percentEncodedUser?.removingPercentEncoding ?? query["user"] ?? "postgres",
            password: components.percentEncodedPassword?.removingPercentEncoding ?? query["password"],
            database: database,
            sslMode: try Self.sslMode(query["sslmode"]),
            sslRootCertificate: query["sslrootcert"]
        )
    }

    private static func sslMode(_ value: String?) throws(DatabaseConfigurationError) -> SSLMode {
        guard let value, !value.isEmpty else { return .prefer }
        if value == "allow" { return .prefer }
        guard let mode = SSLMode(rawValue: value) else {
            throw DatabaseConfigurationError("sslmode must be disable, prefer, require, verify-ca or verify-full")
        }
        return mode
    }

    /// How one connection is opened (postgres-nio's connection configuration).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        switch endpoint {
        case .unixSocket(let directory, let port):
            configuration = .init(
                unixSocketPath: "\(directory)/.s.PGSQL.\(port)",
                username: username,
                password: password,
                database: database
            )
        case .tcp(let host, let port):
            configuration = .init(host: host, port: port, username: username, password: password, database: database, tls: try tls())
        }
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// How many connections the pool keeps: `minimumConnections` (none when unset) to `maximumConnections`,
    /// connections above the minimum closed after 60 s idle.
    public var poolLimits: PostgresPool.Limits {
        .init(maximum: maximumConnections, minimum: minimumConnections ?? 0, idleTimeout: .seconds(60), keepAlive: keepAlive)
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable:
            return .disable
        case .prefer:
            tls.certificateVerification = .none
            return .prefer(try NIOSSLContext(configuration: tls))
        case .require:
            tls.certificateVerification = .none
            return .require(try NIOSSLContext(configuration: tls))
        case .verifyCA, .verifyFull:
            tls.certificateVerification = sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let sslRootCertificate {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(sslRootCertificate))
            }
            return .require(try NIOSSLContext(configuration: tls))
        }
    }

    /// The configuration as a `postgres://` URL (for handing to another process).
    public var url: String {
        func escape(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
        }
        let credentials = escape(username) + (password.map { ":" + escape($0) } ?? "")
        switch endpoint {
        case .tcp(let host, let port):
            return "postgres://\(credentials)@\(host):\(port)/\(escape(database))?sslmode=\(sslMode.rawValue)"
        case .unixSocket(let directory, let port):
            return "postgres://\(credentials)@/\(escape(database))?host=\(escape(directory))&port=\(port)"
        }
    }

    /// The server's port.
    public var port: Int {
        switch endpoint {
        case .tcp(_, let port), .unixSocket(_, let port): return port
        }
    }

    /// The configuration a serving instance uses: it keeps all of `DB_POOL_SIZE` open unless `DB_POOL_MIN` says
    /// otherwise (see ``minimumConnections``).
    public var serving: DatabaseConfiguration {
        var copy = self
        copy.minimumConnections = minimumConnections ?? maximumConnections
        return copy
    }

    /// The configuration with another database name (tests give each suite its own).
    public func with(database: String) -> DatabaseConfiguration {
        var copy = self
        copy.database = database
        return copy
    }
}

/// `DATABASE_URL` or a `DB_*` variable is invalid. The message never contains the password.
public struct DatabaseConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
