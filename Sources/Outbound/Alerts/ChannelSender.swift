import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Primitives

/// Sends one alert on one channel (email through the configured backend, or Slack) and classifies the outcome:
/// sent, retry later (429, 5xx, timeouts, connection errors, honouring `Retry-After`), or failed for good
/// (400, 401/403, 404: the provider's reason is kept).
package struct ChannelSender: Sendable {
    package enum Outcome: Sendable, Equatable {
        case sent(providerID: String?)
        case retry(reason: String, retryAfter: TimeInterval?)
        case failed(reason: String)
    }

    package struct Attempt: Sendable {
        package var outcome: Outcome
        package var statusCode: Int?
        package var duration: Duration
    }

    let settings: AlertSettings
    package let client: ProviderClient

    /// A sender for `settings` over `client`.
    package init(settings: AlertSettings, client: ProviderClient) {
        self.settings = settings
        self.client = client
    }

    /// The email's parts.
    package struct Email: Sendable {
        var to: [String]
        var subject: String
        var text: String
        var html: String
        var pdf: Data?

        /// Creates a value from its fields.
        package init(
            to: [String],
            subject: String,
            text: String,
            html: String,
            pdf: Data? = nil
        ) {
            self.to = to
            self.subject = subject
            self.text = text
            self.html = html
            self.pdf = pdf
        }
    }

    /// True for a channel whose send is made in this process and cannot fail (the console backend): it needs no
    /// claim, retry or second statement.
    package func sendsLocally(_ channel: String) -> Bool { channel == "email" && settings.backend == .console }

    package func sendEmail(_ email: Email, alertID: UUID, timeout: Duration, logger: Logger) async -> Attempt {
        let started = ContinuousClock.now
        switch settings.backend {
        case .console:
            // One JSON line, keys in order, written by hand: this runs once per alert in development and benchmarks.
            let attachment = email.pdf == nil ? "none" : "alert-\(alertID.uuidString.lowercased()).pdf"
            let line = "{\"email\":{\"attachment\":\(JSONText.quoted(attachment)),\"from\":\(JSONText.quoted(settings.from)),"
                + "\"subject\":\(JSONText.quoted(email.subject)),\"text\":\(JSONText.quoted(email.text)),"
                + "\"to\":[\(email.to.map(JSONText.quoted).joined(separator: ","))]},"
                + "\"email_backend\":\"console\",\"message\":\"email (console backend)\",\"severity\":\"INFO\"}\n"
            let data = Data(line.utf8)
            FileHandle.standardOutput.write(data)
            return Attempt(outcome: .sent(providerID: "console"), statusCode: nil, duration: ContinuousClock.now - started)
        case .mailgun:
            guard let key = settings.mailgunAPIKey, let domain = settings.mailgunDomain else {
                return Attempt(outcome: .failed(reason: "MAILGUN_API_KEY and MAILGUN_DOMAIN are required"), statusCode: nil, duration: .zero)
            }
            let boundary = "----alert-\(UUID().uuidString)"
            var body = Data()
            func field(_ name: String, _ value: String) {
                body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8))
            }
            field("from", settings.from)
            for recipient in email.to { field("to", recipient) }
            field("subject", email.subject)
            field("text", email.text)
            field("html", email.html)
            if let pdf = email.pdf {
                body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"alert-\(alertID.uuidString.lowercased()).pdf\"\r\nContent-Type: application/pdf\r\n\r\n".utf8))
                body.append(pdf)
                body.append(Data("\r\n".utf8))
            }
            body.append(Data("--\(boundary)--\r\n".utf8))
            let credentials = Data("api:\(key)".utf8).base64EncodedString()
            return await post(
                url: "\(settings.mailgunBaseURL)/v3/\(domain)/messages",
                headers: [("Authorization", "Basic \(credentials)"), ("Content-Type", "multipart/form-data; boundary=\(boundary)")],
                body: body, started: started, timeout: timeout, logger: logger
            ) { status, data, headers in
                let answer = try? JSONDecoder().decode(MailgunAnswer.self, from: data)
                return status == 200 ? answer?.id : answer?.message
            }
        case .sendgrid:
            guard let key = settings.sendgridAPIKey else {
                return Attempt(outcome: .failed(reason: "SENDGRID_API_KEY is required"), statusCode: nil, duration: .zero)
            }
            let message = SendGridMail(
                personalizations: [.init(to: email.to.map { .init(email: $0) })],
                from: .init(email: settings.from),
                subject: email.subject,
                content: [.init(type: "text/plain", value: email.text), .init(type: "text/html", value: email.html)],
                attachments: email.pdf.map { pdf in
                    [.init(content: pdf.base64EncodedString(), type: "application/pdf", filename: "alert-\(alertID.uuidString.lowercased()).pdf", disposition: "attachment")]
                }
            )
            let body = (try? JSONEncoder.stable.encode(message)) ?? Data()
            return await post(
                url: "\(settings.sendgridBaseURL)/v3/mail/send",
                headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")],
                body: body, started: started, timeout: timeout, logger: logger
            ) { status, data, headers in
                if status == 202 { return headers.first(name: "X-Message-Id") }
                return (try? JSONDecoder().decode(SendGridMail.Errors.self, from: data))?.errors.compactMap(\.message).joined(separator: "; ")
            }
        }
    }

    package func sendSlack(text: String, timeout: Duration, logger: Logger) async -> Attempt {
        let started = ContinuousClock.now
        guard let url = settings.slackWebhookURL else {
            return Attempt(outcome: .failed(reason: "SLACK_WEBHOOK_URL is required"), statusCode: nil, duration: .zero)
        }
        let body = (try? JSONEncoder.stable.encode(["text": text])) ?? Data()
        return await post(url: url, headers: [("Content-Type", "application/json")], body: body, started: started, timeout: timeout, logger: logger) {
            status, data, _ in
            status == 200 ? nil : PartnerText.stored(data, maxBytes: 200)
        }
    }

    /// Posts and classifies; the whole exchange ends within `timeout`. `detail` extracts the provider id (on
    /// success) or its reason (on failure); both are stored, so they pass through ``PartnerText``.
    private func post(
        url: String,
        headers: [(String, String)],
        body: Data,
        started: ContinuousClock.Instant,
        timeout: Duration,
        logger: Logger,
        detail: (Int, Data, HTTPHeaders) -> String?
    ) async -> Attempt {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "User-Agent", value: "swift-cloud-run-functions-alerts/1")
        request.body = .bytes(ByteBuffer(data: body))
        do {
            let answer = try await BoundedExchange.execute(
                request, on: client.client, timeout: timeout - (ContinuousClock.now - started), maxBodyBytes: 64 * 1024, tracer: client.tracer,
                logger: logger
            )
            let status = answer.status
            let info = detail(status, Data(buffer: answer.body), answer.headers).map { PartnerText.stored($0, maxBytes: 300) }
            let duration = ContinuousClock.now - started
            switch status {
            case 200..<300:
                return Attempt(outcome: .sent(providerID: info), statusCode: status, duration: duration)
            case 429, 500..<600, 408:
                let retryAfter = answer.headers.first(name: "Retry-After").flatMap(TimeInterval.init)
                return Attempt(outcome: .retry(reason: "HTTP \(status)", retryAfter: retryAfter), statusCode: status, duration: duration)
            default:
                let reason = "HTTP \(status)" + (info.map { ": " + $0 } ?? "")
                return Attempt(outcome: .failed(reason: reason), statusCode: status, duration: duration)
            }
        } catch {
            let kind = WebhookSender.failure(of: error).rawValue
            return Attempt(outcome: .retry(reason: kind, retryAfter: nil), statusCode: nil, duration: ContinuousClock.now - started)
        }
    }
}
