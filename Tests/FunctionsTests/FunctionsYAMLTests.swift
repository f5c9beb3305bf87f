import Foundation
import Testing
import Yams

@testable import Functions

@Suite("functions.yaml")
struct FunctionsYAMLTests {
    static var packageRoot: URL {
        var folder = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
            folder.deleteLastPathComponent()
        }
        return folder
    }

    func load() throws -> [String: Any] {
        let text = try String(contentsOf: Self.packageRoot.appendingPathComponent("functions.yaml"), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    @Test("lists exactly the functions the executable registers, in the same order")
    func matchesRegistry() throws {
        let functions = try #require(try load()["functions"] as? [[String: Any]])
        #expect(functions.compactMap { $0["name"] as? String } == FunctionCatalog.names)
    }

    @Test("every function says how it is triggered, reached, sized and who may call it")
    func completeEntries() throws {
        let functions = try #require(try load()["functions"] as? [[String: Any]])
        for function in functions {
            let name = function["name"] as? String ?? "?"
            for key in ["trigger", "routes", "access", "env", "secrets", "schedule", "cpu", "memory", "concurrency",
                "timeout_seconds", "min_instances", "max_instances", "service_account"]
            {
                #expect(function[key] != nil, "\(name) has no \(key)")
            }
            #expect(["public", "private"].contains(function["access"] as? String), "\(name) access")
            #expect(["http", "cloudevent", "http+cloudevent"].contains(function["trigger"] as? String), "\(name) trigger")
            #expect((function["timeout_seconds"] as? Int).map { (1...3600).contains($0) } == true, "\(name) timeout")
            #expect((function["concurrency"] as? Int).map { (1...1000).contains($0) } == true, "\(name) concurrency")
        }
    }
}
