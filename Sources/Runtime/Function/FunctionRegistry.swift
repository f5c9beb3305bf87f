/// The functions one binary can serve, and which of them a process serves.
public struct FunctionRegistry: Sendable {
    /// Every known function, by name, in registration order.
    public let functions: [any HTTPFunction]
    /// The target picked by `FUNCTION_TARGET`, or nil to serve all under `/<name>`.
    public let target: (any HTTPFunction)?
    /// `FUNCTION_TARGET`'s signature as `FUNCTION_SIGNATURE_TYPE` fixes it; nil: each request says what it is.
    public let signatureType: SignatureType?

    /// Builds the registry; an unknown target, or a signature type the target cannot take, is an error whose
    /// description is the one line to print.
    public init(functions: [any HTTPFunction], target: String?, signatureType: SignatureType? = nil) throws {
        self.functions = functions
        self.signatureType = signatureType
        if let target {
            guard let function = functions.first(where: { $0.name == target }) else {
                throw UnknownFunctionError(target: target, known: functions.map(\.name))
            }
            self.target = function
        } else {
            self.target = nil
        }
        if let signatureType {
            guard let function = self.target else {
                throw SignatureTypeError(description: "FUNCTION_SIGNATURE_TYPE applies to one function: set FUNCTION_TARGET too")
            }
            guard function.signatures.contains(signatureType) else {
                let takes = function.signatures.map(\.rawValue).sorted().joined(separator: " and ")
                throw SignatureTypeError(description: "FUNCTION_SIGNATURE_TYPE=\(signatureType.rawValue): \(function.name) takes \(takes) only")
            }
        }
    }

    /// The function for a request path and the path below its root; nil when no function matches.
    public func route(_ path: String) -> (function: any HTTPFunction, path: String)? {
        if let target { return (target, path) }
        let trimmed = path.drop { $0 == "/" }
        let name = trimmed.prefix { $0 != "/" }
        guard let function = functions.first(where: { $0.name == name }) else { return nil }
        let rest = trimmed.dropFirst(name.count)
        return (function, rest.isEmpty ? "/" : String(rest))
    }
}

/// `FUNCTION_TARGET` names no known function.
public struct UnknownFunctionError: Error, Sendable, CustomStringConvertible {
    /// The name asked for.
    public let target: String
    /// The names that exist.
    public let known: [String]

    /// Creates the error.
    public init(target: String, known: [String]) {
        self.target = target
        self.known = known
    }

    /// One line naming the known functions.
    public var description: String {
        "Unknown FUNCTION_TARGET \"\(target)\"; known functions: \(known.joined(separator: ", "))"
    }
}

/// `FUNCTION_SIGNATURE_TYPE` names a signature the target cannot take (or there is no target).
public struct SignatureTypeError: Error, Sendable, CustomStringConvertible {
    /// The one line to print.
    public let description: String
}
