import Foundation
import Hummingbird
import Logging
import NIOCore
import Runtime

// The shim-overhead benchmark's two servers, built in release like the product:
//   shim-benchmark bare PORT   a bare Hummingbird 2 router answering "hello"
//   shim-benchmark shim PORT   the same answer from a no-op function through the runtime shim
//   shim-benchmark sink PORT   a webhook sink: 200 "ok" to any request (Benchmarks/webhooks.py)
// Benchmarks/run.sh drives both with wrk in the same run.

/// The no-op function measured through the shim.
struct Hello: HTTPFunction {
    let name = "hello"
    func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        .text("hello")
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: shim-benchmark bare|shim|sink PORT\n".utf8))
    exit(2)
}
var logger = Logger(label: "bench")
logger.logLevel = .warning

switch arguments[1] {
case "bare":
    let router = Router()
    router.get("/") { _, _ in "hello" }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    try await app.runService()
case "shim":
    let configuration = try RuntimeConfiguration(environment: [
        "PORT": String(port), "HOST": "127.0.0.1", "FUNCTION_TARGET": "hello", "LOG_LEVEL": "warning",
    ])
    LoggingSystem.bootstrap { CloudLogHandler(label: $0, level: .warning, settings: .init()) }
    try await FunctionsRuntime(configuration: configuration, functions: [Hello()], logger: logger).run()
case "sink":
    let responder = CallbackResponder<BasicRequestContext> { request, _ in
        var request = request
        _ = try await request.collectBody(upTo: 1 << 20)
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok")))
    }
    let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    try await app.runService()
default:
    FileHandle.standardError.write(Data("usage: shim-benchmark bare|shim|sink PORT\n".utf8))
    exit(2)
}
