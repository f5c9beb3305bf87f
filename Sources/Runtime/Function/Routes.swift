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
        let maxBodyBytes: Int?
        let handler: Handler

        /// A route for `methods` on `path`; `maxBodyBytes` overrides the table's body limit for it.
        public init(_ methods: [HTTPRequest.Method], _ path: Path, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) {
            self.methods = methods
            self.path = path
            self.maxBodyBytes = maxBodyBytes
            self.handler = handler
        }

        /// `POST path`.
        public static func post(_ path: String, maxBodyBytes: Int? = nil, _ handler: @escaping Handler) -> Route {
            Route([.post], .exact(path), maxBodyBytes: maxBodyBytes, handler)
        }

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
    private let maxBodyBytes: Int?

    /// A request no route takes is answered 404 or 405 without its body: this much of it is read at most.
    public static let unroutedBodyBytes = 16 * 1024

    /// The paths the runtime answers itself, before any function: `/health`, `/ready`, and the two reserved 404s.
    public static func isRuntimeOwn(_ path: String) -> Bool {
        path == "/health" || path == "/ready" || path == "/robots.txt" || path == "/favicon.ico"
    }

    /// The table; `notFound` and `methodNotAllowed` say how this function answers an unknown path or method;
    /// `maxBodyBytes` bounds every route's body before it is read (nil: the runtime's limit).
    public init(
        _ routes: [Route],
        guard guarding: Guard? = nil,
        notFound: HTTPError = .notFound(),
        methodNotAllowed: @escaping MethodNotAllowed = { HTTPError.methodNotAllowed($0, allowed: $1) },
        maxBodyBytes: Int? = nil
    ) {
        self.routes = routes
        self.guarding = guarding
        self.notFound = notFound
        self.methodNotAllowed = methodNotAllowed
        self.maxBodyBytes = maxBodyBytes
    }

    /// The body limit of the route that takes `method` on `path` (its own, else the table's); a request no route
    /// takes gets ``unroutedBodyBytes``.
    public func maxBodyBytes(method: HTTPRequest.Method, path: String) -> Int? {
        guard let route = routes.first(where: { $0.matches(path) && $0.methods.contains(method) }) else { return Self.unroutedBodyBytes }
        return route.maxBodyBytes ?? maxBodyBytes
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

    /// The limit of the route that takes the request.
    public func maxBodyBytes(method: HTTPRequest.Method, path: String) -> Int? {
        routes.maxBodyBytes(method: method, path: path)
    }
}
