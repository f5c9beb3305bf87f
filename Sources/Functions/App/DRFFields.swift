import Foundation
import Runtime

/// Reads login's and refresh's bodies as Django REST framework's `CharField`s do (trimmed, not blank), collecting
/// every field's errors; ``Answers`` turns a refusal into DRF's body.
enum DRFFields {
    /// DRF's per-field errors, in field order.
    struct Invalid: Error, Sendable, Equatable {
        /// `(field, messages)` pairs.
        var fields: [Pair]

        /// One field's messages.
        struct Pair: Sendable, Equatable {
            var name: String
            var messages: [String]
        }
    }

    /// The required string fields `names` of the request's body (JSON, form or multipart), in order.
    static func requiredStrings(_ names: [String], of request: FunctionRequest) throws -> [String] {
        let fields = try RequestFields(request: request)
        var values: [String] = []
        var errors: [Invalid.Pair] = []
        for name in names {
            switch fields[name] {
            case nil:
                errors.append(.init(name: name, messages: ["This field is required."]))
            case .null:
                errors.append(.init(name: name, messages: ["This field may not be null."]))
            case .bool, .structured:
                errors.append(.init(name: name, messages: ["Not a valid string."]))
            case .number(let text):
                values.append(text)
            case .string(let text) where text.utf8.contains(0):
                // DRF's CharField runs ProhibitNullCharactersValidator.
                errors.append(.init(name: name, messages: ["Null characters are not allowed."]))
            case .string(let text):
                let trimmed = text.first?.isWhitespace == false && text.last?.isWhitespace == false
                    ? text : text.trimmingCharacters(in: .whitespacesAndNewlines)
                if trimmed.isEmpty {
                    errors.append(.init(name: name, messages: ["This field may not be blank."]))
                } else {
                    values.append(trimmed)
                }
            }
        }
        guard errors.isEmpty else { throw Invalid(fields: errors) }
        return values
    }
}
