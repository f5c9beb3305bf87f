public import HTTPTypes

/// A function's own routes: method and path to handler. A path no route knows is answered 404 and a known path
/// asked with another method 405 (with `Allow`), here and nowhere else.
public struct Routes: Sendable {
    /// Answers one routed request.
    public typealias Handler = @Sendable (FunctionRequest, FunctionContext) async throws -> FunctionResponse
    /// Builds the 405 for a method a path does not take (a replaced system may need its own shape of it).
    public typealias MethodNotAllowed = @Sendable (HTTPRequest.Method, [HTTPRequest.Method]) -> any Error

    /// Which request paths a route takes (relative to the function's root).
    public enum Path: Sendable, Equatable {
        /// Exactly this path, for example `/` or `/drain`.
        case exact(String)
        /// Any path of one non-empty segment, for example `/<source>`.
        case oneSegment
    }

    /// One route.
    public struct Route: Sendable {
        let methods: [HTTPRequest.Method]
        let path: Path
        let handler: Handler

        /// A route for `methods` on `path`.
        public init(_ methods: [HTTPRequest.Method], _ path: Path, _ handler: @escaping Handler) {
            self.methods = methods
            self.path = path
            self.handler = handler
        }

        /// `POST path`.
        public static func post(_ path: String, _ handler: @escaping Handler) -> Route { Route([.post], .exact(path), handler) }

        func matches(_ requestPath: String) -> Bool {
            switch path {
            case .exact(let exact):
                return requestPath == exact
            case .oneSegment:
                return requestPath.split(separator: "/", omittingEmptySubsequences: true).count == 1
            }
        }
    }

    /// A check every request passes before it is routed (a private function's credentials), so that a caller
    /// without them learns nothing of which paths exist.
    public typealias Guard = @Sendable (FunctionRequest) throws -> Void

    private let routes: [Route]
    private let guarding: Guard?
    private let notFound: HTTPError
    private let methodNotAllowed: MethodNotAllowed

    /// The table; `notFound` and `methodNotAllowed` say how this function answers an unknown path or method.
    public init(
        _ routes: [Route],
        guard guarding: Guard? = nil,
        notFound: HTTPError = .notFound(),
        methodNotAllowed: @escaping MethodNotAllowed = { HTTPError.methodNotAllowed($0, allowed: $1) }
    ) {
        self.routes = routes
        self.guarding = guarding
        self.notFound = notFound
        self.methodNotAllowed = methodNotAllowed
    }

    /// Runs the handler of the route that takes the request, or throws the 404 or 405.
    public func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        try guarding?(request)
        var pathKnown = false
        for route in routes where route.matches(request.path) {
            if route.methods.contains(request.method) { return try await route.handler(request, context) }
            pathKnown = true
        }
        guard pathKnown else { throw notFound }
        throw methodNotAllowed(request.method, routes.filter { $0.matches(request.path) }.flatMap(\.methods))
    }
}

/// A function that is its route table: `handle` routes, and each route's handler answers.
public protocol RoutedFunction: HTTPFunction {
    /// The function's routes.
    var routes: Routes { get }
}

extension RoutedFunction {
    /// Routes the request (404 and 405 answered by the table).
    public func handle(_ request: FunctionRequest, context: FunctionContext) async throws -> FunctionResponse {
        try await routes.handle(request, context: context)
    }
}
