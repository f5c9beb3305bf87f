import Foundation
import Testing

/// The arrows between targets point down only (docs/architecture.md): each target imports what its row allows.
/// A new import that breaks a row fails here, naming the file.
@Suite("architecture: each target imports only what its layer may")
struct ArchitectureTests {
    /// Modules every target may use: the standard library's neighbours.
    static let system: Set<String> = ["Foundation", "Glibc", "Darwin", "Synchronization", "Dispatch"]

    /// What each source target may import beyond ``system``.
    static let allowed: [String: Set<String>] = [
        "Primitives": [],
        "CommonPasswordList": [],
        "Traces": ["Tracing"],
        "Domain": ["Primitives", "CommonPasswordList", "Crypto", "_CryptoExtras", "JWTKit"],
        "Runtime": [
            "Primitives", "Hummingbird", "HTTPTypes", "Logging", "NIOCore", "NIOHTTP1", "NIOFoundationCompat", "ServiceLifecycle", "MultipartKit",
            "Configuration", "Traces", "Tracing", "OTel", "W3CTraceContext",
        ],
        "Store": ["Domain", "Primitives", "PostgresNIO", "NIOCore", "Crypto", "NIOSSL", "Logging", "ServiceLifecycle", "Traces", "Tracing"],
        "Outbound": [
            "Domain", "Primitives", "AsyncHTTPClient", "NIOCore", "NIOPosix", "NIOHTTP1", "NIOFoundationCompat", "Logging",
            "ServiceLifecycle", "Traces", "Tracing",
        ],
    ]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `import X` lines of every Swift file under `Sources/<target>`, as (file, module) pairs.
    static func imports(of target: String) throws -> [(file: String, module: String)] {
        let folder = root.appendingPathComponent("Sources").appendingPathComponent(target)
        let files = FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []
        var found: [(String, String)] = []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                    words[..<index].allSatisfy({ ["public", "package", "internal", "@testable", "@preconcurrency", "@_exported"].contains($0) })
                else { continue }
                found.append(("\(target)/\(file)", words[index + 1]))
            }
        }
        return found
    }

    @Test("every target imports only what its layer allows", arguments: ["Primitives", "CommonPasswordList", "Traces", "Domain", "Runtime", "Store", "Outbound"])
    func layer(_ target: String) throws {
        let found = try Self.imports(of: target)
        #expect(!found.isEmpty || target == "CommonPasswordList", "no sources found for \(target) under \(Self.root.path)")
        let allowed = Self.system.union(Self.allowed[target] ?? [])
        let forbidden = found.filter { !allowed.contains($0.module) }.map { "\($0.file) imports \($0.module)" }
        #expect(forbidden.isEmpty, "\(forbidden.joined(separator: "; "))")
    }

    @Test("the check sees a forbidden import (Functions imports the store, which Domain may not)")
    func checkerBites() throws {
        let functions = try Self.imports(of: "Functions")
        let domainAllowed = Self.system.union(Self.allowed["Domain"]!)
        #expect(functions.contains { !domainAllowed.contains($0.module) && $0.module == "Store" })
    }
}
