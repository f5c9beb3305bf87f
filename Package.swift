// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-cloud-run-functions",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "functions", targets: ["Functions"]),
        .executable(name: "conformance", targets: ["Conformance"]),
        .executable(name: "shim-benchmark", targets: ["ShimBenchmark"]),
        .library(name: "Runtime", targets: ["Runtime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter's dependencies would double the build for nothing we use.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context", from: "1.0.0"),
    ],
    targets: [
        // Hex, random numbers, the byte-level JSON scanner, constant-time comparison, the PHI scrubber: used by the
        // shim and by the rules alike, so it depends on nothing but the standard library and Foundation.
        .target(name: "Primitives"),
        // Spans made one way everywhere: nothing at all without a tracer, never an error's text.
        .target(name: "Traces", dependencies: [.product(name: "Tracing", package: "swift-distributed-tracing")]),
        // Django's common-password list as data (19,640 lines), kept out of the rules' sources.
        .target(name: "CommonPasswordList"),
        // The Functions Framework shim: knows none of the targets below.
        .target(
            name: "Runtime",
            dependencies: [
                "Primitives",
                "Traces",
                // Settings read as swift-configuration reads them (typed, secrets marked).
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // multipart/form-data bodies (login and refresh accept them, as DRF does).
                .product(name: "MultipartKit", package: "multipart-kit"),
                // Spans for requests; exported as OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                // The caller's tracestate is checked before the tracer sees it.
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ]
        ),
        // Rules and values only: no PostgreSQL, no HTTP client, no server, no event loops (a test enforces it).
        .target(
            name: "Domain",
            dependencies: [
                "Primitives",
                "CommonPasswordList",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                // ES256 signatures and their JSON Web Keys, for tokens other services check without the secret.
                .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
        // PostgreSQL: the pool, migrations, statements, stores, counters, audit, the leased queues.
        .target(
            name: "Store",
            dependencies: [
                "Domain",
                "Primitives",
                "Traces",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The outgoing HTTP clients and who owns them: providers (Mailgun, SendGrid, Slack, Sentry) and webhooks.
        .target(
            name: "Outbound",
            dependencies: [
                "Domain",
                "Primitives",
                "Traces",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The six functions, their use cases, wiring, the CLI and `render`.
        .executableTarget(
            name: "Functions",
            dependencies: [
                "Primitives",
                "Runtime",
                "Domain",
                "Store",
                "Outbound",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // The local runner's scheduler calls its own routes, as Cloud Scheduler would.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .executableTarget(
            name: "ShimBenchmark",
            dependencies: [
                "Runtime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/ShimBenchmark"
        ),
        .executableTarget(
            name: "Conformance",
            dependencies: ["Runtime", "Primitives"],
            path: "Examples/Conformance"
        ),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Runtime",
                "Primitives",
                "TestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DomainTests",
            dependencies: ["Domain", "Primitives", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "Store", "Domain", "Primitives", "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "FunctionsTests",
            dependencies: [
                "Functions", "Runtime", "Domain", "Store", "Outbound", "Primitives", "TestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "Domain",
                "Store",
                "Primitives",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Tests/TestSupport"
        ),
    ],
    swiftLanguageModes: [.v6]
)
