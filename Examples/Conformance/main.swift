import Foundation
import Logging
import Runtime

// Google's Functions Framework conformance functions, served by the shim:
// FUNCTION_TARGET=http|cloudevent|typed PORT=8080 conformance
let environment = ProcessInfo.processInfo.environment
do {
    let configuration = try RuntimeConfiguration(environment: environment)
    let settings = CloudLogHandler.Settings(labels: configuration.labels, project: configuration.project)
    LoggingSystem.bootstrap { CloudLogHandler(label: $0, level: configuration.logLevel, settings: settings) }
    let output = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("function_output.json")
    let runtime = try FunctionsRuntime(
        configuration: configuration,
        functions: [
            HTTPConformance(output: output), CloudEventConformance(output: output), TypedConformance(), DelayFunction(),
        ],
        logger: Logger(label: "conformance")
    )
    try await runtime.run()
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
