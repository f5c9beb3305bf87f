import Domain
import Foundation
import Runtime

/// `metrics`: `GET /` answers the Prometheus text exposition (0.0.4) of the durable counters in PostgreSQL.
struct Metrics: HTTPFunction {
    let name = "metrics"
    let database: Database
    let access: PrivateAccess

    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        try access.check(request)
        guard request.path == "/" else { throw HTTPError.notFound() }
        guard request.method == .get || request.method == .head else {
            throw HTTPError.methodNotAllowed(request.method, allowed: [.get])
        }
        let logger = context.logger
        let samples = try await database.withConnection { try await Counters.all(on: $0, logger: logger) }
        return .text(PrometheusText.render(samples), contentType: PrometheusText.contentType)
    }
}

/// Prometheus text format 0.0.4 for counter samples.
enum PrometheusText {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ samples: [Counters.Sample]) -> String {
        var out = ""
        var current: String?
        for sample in samples where isValidName(sample.name) {
            if sample.name != current {
                current = sample.name
                out += "# HELP \(sample.name) Durable counter kept in PostgreSQL.\n# TYPE \(sample.name) counter\n"
            }
            out += sample.name + labels(sample.labels) + " \(sample.value)\n"
        }
        return out
    }

    static func labels(_ labels: [String: String]) -> String {
        let valid = labels.filter { isValidName($0.key) }.sorted { $0.key < $1.key }
        guard !valid.isEmpty else { return "" }
        return "{" + valid.map { "\($0.key)=\"\(escape($0.value))\"" }.joined(separator: ",") + "}"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }
}
