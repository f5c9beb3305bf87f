import Foundation

/// An alert as submitted: validated, bounded, ready to store and send.
public struct Alert: Sendable, Equatable {
    /// Severities, in order.
    public enum Severity: String, Sendable, CaseIterable, Codable {
        /// For the record.
        case info
        /// Needs attention soon.
        case warning
        /// Something failed.
        case error
        /// Act now.
        case critical
    }

    /// What kind of alert, for example `drift_detected`.
    public var alertType: String
    /// How bad.
    public var severity: Severity
    /// Email subject and Slack headline.
    public var subject: String
    /// The body text.
    public var message: String
    /// Email recipients (the configured default when none are given).
    public var recipients: [String]
    /// De-duplicates submissions: the same key returns the first answer and sends nothing again.
    public var idempotencyKey: String?
    /// Extra links shown in the email.
    public var links: [String]

    /// Field limits.
    public static let maxSubject = 200
    /// Field limits.
    public static let maxMessage = 50_000
    /// Field limits.
    public static let maxRecipients = 50

    /// Validates a JSON object; every problem is reported per field, nothing partial is returned.
    public static func validate(_ json: Data, defaultRecipients: [String]) -> Result<Alert, AlertValidationError> {
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            return .failure(AlertValidationError(fields: ["non_field_errors": ["Body must be a JSON object."]]))
        }
        var errors: [String: [String]] = [:]
        func text(_ key: String, max: Int, required: Bool = true) -> String? {
            guard let value = object[key], !(value is NSNull) else {
                if required { errors[key] = ["This field is required."] }
                return nil
            }
            guard let string = value as? String else {
                errors[key] = ["Not a valid string."]
                return nil
            }
            let trimmed = trimmedWhitespace(string)
            if trimmed.isEmpty {
                // An optional field left blank (or only whitespace, U+2028 and U+0085 among it) is not given.
                if required { errors[key] = ["This field may not be blank."] }
                return nil
            }
            if trimmed.count > max {
                errors[key] = ["Ensure this field has no more than \(max) characters."]
                return nil
            }
            return trimmed
        }
        let alertType = text("alert_type", max: 100)
        if let alertType, !alertType.utf8.allSatisfy({ byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-")
        }) {
            errors["alert_type"] = ["Use letters, digits, and _ . : - only."]
        }
        let severityText = text("severity", max: 20)
        let severity = severityText.flatMap { Severity(rawValue: $0.lowercased()) }
        if severityText != nil && severity == nil {
            errors["severity"] = ["\"\(severityText!.prefix(20))\" is not a valid choice (info, warning, error, critical)."]
        }
        let subject = text("subject", max: maxSubject)
        // By scalar (TextRules): "Hi\r\nBcc: …" is refused, and so are U+0085, U+2028, U+2029 and NUL.
        if let subject, !TextRules.isOneLine(subject) {
            errors["subject"] = ["The subject must be one line."]
        }
        let message = text("message", max: maxMessage)
        if let message, !TextRules.isMultiLine(message) {
            errors["message"] = ["Control characters other than line breaks and tabs are not allowed."]
        }
        let key = text("idempotency_key", max: 200, required: false)
        if let key, IdempotencyKey.hasControlCharacters(key) {
            errors["idempotency_key"] = ["Control characters are not allowed."]
        }
        var recipients = defaultRecipients
        if let value = object["recipients"], !(value is NSNull) {
            if let list = value as? [Any], list.count <= maxRecipients, list.allSatisfy({ $0 is String }) {
                let strings = (list as? [String] ?? []).map { $0.trimmingCharacters(in: .whitespaces) }
                let invalid = strings.filter { !EmailAddress.isValid($0) }
                if invalid.isEmpty {
                    if !strings.isEmpty { recipients = strings }
                } else {
                    errors["recipients"] = invalid.prefix(5).map { _ in "Enter a valid email address." }
                }
            } else {
                errors["recipients"] = ["Expected a list of at most \(maxRecipients) email addresses."]
            }
        }
        var links: [String] = []
        if let value = object["links"], !(value is NSNull) {
            if let list = value as? [String], list.count <= 10,
                list.allSatisfy({
                    $0.count <= 2000 && ($0.hasPrefix("https://") || $0.hasPrefix("http://")) && !$0.contains(where: \.isWhitespace)
                        && TextRules.isToken($0)
                })
            {
                links = list
            } else {
                errors["links"] = ["Expected a list of at most 10 http(s) URLs."]
            }
        }
        if recipients.isEmpty && errors["recipients"] == nil {
            errors["recipients"] = ["No recipients given and no default configured (ALERT_RECIPIENTS)."]
        }
        guard errors.isEmpty, let alertType, let severity, let subject, let message else {
            return .failure(AlertValidationError(fields: errors))
        }
        return .success(
            Alert(alertType: alertType, severity: severity, subject: subject, message: message, recipients: recipients, idempotencyKey: key, links: links)
        )
    }
}

/// `string` without leading and trailing whitespace and newlines; Foundation's trimming only when an end needs it.
func trimmedWhitespace(_ string: String) -> String {
    guard let first = string.utf8.first, let last = string.utf8.last else { return string }
    let plain = { (byte: UInt8) in byte > 0x20 && byte < 0x7F }
    return plain(first) && plain(last) ? string : string.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Field errors of a rejected alert (answered 400, nothing stored).
public struct AlertValidationError: Error, Sendable, Equatable {
    /// Messages by field.
    public var fields: [String: [String]]
}

/// A pragmatic email address check: one `@`, a dotted domain, no spaces or control characters, ≤ 254.
public enum EmailAddress {
    /// True when `address` can be handed to a provider.
    public static func isValid(_ address: String) -> Bool {
        guard address.utf8.count <= 254, !address.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," || $0 == "\"" }),
            TextRules.isToken(address)
        else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && $0.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
            && (labels.last?.count ?? 0) >= 2
    }
}
