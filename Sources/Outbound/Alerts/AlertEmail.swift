import Foundation

/// The email's text and HTML parts.
package enum AlertEmail {
    package static func text(subject: String, severity: String, type: String, message: String, link: String, links: [String]) -> String {
        var lines = [subject, "", "Severity: \(severity)", "Type: \(type)", "", message, "", "Open the alert: \(link)"]
        if !links.isEmpty { lines += [""] + links }
        return lines.joined(separator: "\n")
    }

    package static func html(subject: String, severity: String, type: String, message: String, link: String, links: [String]) -> String {
        func escape(_ text: String) -> String {
            guard text.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") })
            else { return text }
            return text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        let extra = links.map { "<li><a href=\"\(escape($0))\">\(escape($0))</a></li>" }.joined()
        return """
            <html><body><h2>\(escape(subject))</h2><p><strong>Severity:</strong> \(escape(severity)) &middot; <strong>Type:</strong> \(escape(type))</p>\
            <pre style="white-space:pre-wrap">\(escape(message))</pre><p><a href="\(escape(link))">Open the alert</a></p>\
            \(extra.isEmpty ? "" : "<ul>\(extra)</ul>")</body></html>
            """
    }
}
