import Domain
import Store
import Testing

@Suite("Database configuration from DATABASE_URL and DB_*")
struct DatabaseConfigurationTests {
    @Test("a URL with user, password, port, database and sslmode")
    func url() throws {
        let configuration = try DatabaseConfiguration(url: "postgres://app:p%40ss@db.internal:6543/health?sslmode=verify-full")
        #expect(configuration.endpoint == .tcp(host: "db.internal", port: 6543))
        #expect(configuration.username == "app" && configuration.password == "p@ss" && configuration.database == "health")
        #expect(configuration.sslMode == .verifyFull)
    }

    @Test("a Cloud SQL unix socket host, in the URL or in DB_HOST")
    func unixSocket() throws {
        let fromURL = try DatabaseConfiguration(url: "postgresql://app:pw@/health?host=/cloudsql/proj:region:inst")
        #expect(fromURL.endpoint == .unixSocket(directory: "/cloudsql/proj:region:inst", port: 5432))
        let fromVariables = try #require(
            try DatabaseConfiguration(environment: ["DB_NAME": "health", "DB_USER": "app", "DB_PASSWORD": "pw", "DB_HOST": "/cloudsql/p:r:i"])
        )
        #expect(fromVariables.endpoint == .unixSocket(directory: "/cloudsql/p:r:i", port: 5432))
        #expect(try fromVariables.connectionConfiguration().unixSocketPath == "/cloudsql/p:r:i/.s.PGSQL.5432")
    }

    @Test("DB_* variables with sslmode require; DATABASE_URL wins; neither is nil")
    func variables() throws {
        let configuration = try #require(
            try DatabaseConfiguration(environment: [
                "DB_NAME": "n", "DB_USER": "u", "DB_PASSWORD": "p", "DB_HOST": "h", "DB_PORT": "5433", "DB_SSLMODE": "require",
            ])
        )
        #expect(configuration.endpoint == .tcp(host: "h", port: 5433) && configuration.sslMode == .require)
        let both = try #require(try DatabaseConfiguration(environment: ["DATABASE_URL": "postgres://a@x/y", "DB_NAME": "other"]))
        #expect(both.database == "y")
        #expect(try DatabaseConfiguration(environment: [:]) == nil)
    }

    @Test("invalid values are refused without echoing the password", arguments: [
        "mysql://u:secretpw@h/db", "postgres://u:secretpw@h/", "postgres://u:secretpw@h/db?sslmode=maybe", "postgres://u:secretpw@h:99999/db",
    ])
    func invalid(url: String) {
        let error = #expect(throws: DatabaseConfigurationError.self) { try DatabaseConfiguration(url: url) }
        #expect(error?.description.contains("secretpw") == false)
    }

    @Test("pool floor and keep-alive: defaults, overrides, and out-of-range values refused")
    func poolOptions() throws {
        let defaults = try #require(try DatabaseConfiguration(environment: ["DATABASE_URL": "postgres://a@x/y"]))
        #expect(defaults.poolLimits.minimum == 0 && defaults.poolLimits.maximum == 10 && defaults.poolLimits.keepAlive == nil)
        // Serving keeps the whole pool unless DB_POOL_MIN says otherwise; one-off commands keep none.
        #expect(defaults.serving.poolLimits.minimum == 10)
        let tuned = try #require(
            try DatabaseConfiguration(environment: [
                "DATABASE_URL": "postgres://a@x/y", "DB_POOL_SIZE": "16", "DB_POOL_MIN": "4", "DB_KEEPALIVE_SECONDS": "45",
            ])
        )
        #expect(tuned.poolLimits.minimum == 4 && tuned.poolLimits.maximum == 16 && tuned.poolLimits.keepAlive == .seconds(45))
        #expect(tuned.serving.poolLimits.minimum == 4)
        let none = try #require(try DatabaseConfiguration(environment: ["DATABASE_URL": "postgres://a@x/y", "DB_POOL_MIN": "0"]))
        #expect(none.serving.poolLimits.minimum == 0)
        #expect(defaults.callTimeout == .seconds(30))
        for bad in [["DB_CALL_TIMEOUT_MS": "100"], ["DB_CALL_TIMEOUT_MS": "4000", "DB_ACQUIRE_TIMEOUT_MS": "5000"], ["DB_POOL_MIN": "17"], ["DB_POOL_MIN": "-1"], ["DB_KEEPALIVE_SECONDS": "x"], ["DB_KEEPALIVE_SECONDS": "99999"]] {
            #expect(throws: DatabaseConfigurationError.self) {
                try DatabaseConfiguration(environment: ["DATABASE_URL": "postgres://a@x/y", "DB_POOL_SIZE": "16"].merging(bad) { $1 })
            }
        }
    }

    @Test("sslmode maps to TLS settings")
    func tls() throws {
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            let configuration = try DatabaseConfiguration(url: "postgres://u@h/db?sslmode=\(mode)")
            let tls = try configuration.connectionConfiguration().tls
            #expect(tls.isAllowed == (mode != "disable") && tls.isEnforced == !["disable", "prefer"].contains(mode))
        }
    }
}
