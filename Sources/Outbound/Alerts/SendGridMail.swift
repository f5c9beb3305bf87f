/// SendGrid's v3 `mail/send` body (contracts §6): plain text before HTML, attachments base64.
struct SendGridMail: Encodable {
    struct Address: Encodable {
        var email: String
    }

    struct Personalization: Encodable {
        var to: [Address]
    }

    struct Content: Encodable {
        var type: String
        var value: String
    }

    struct Attachment: Encodable {
        var content: String
        var type: String
        var filename: String
        var disposition: String
    }

    /// SendGrid's error answer: `{"errors": [{"message": …}, …]}`.
    struct Errors: Decodable {
        struct Entry: Decodable {
            var message: String?
        }

        var errors: [Entry]
    }

    var personalizations: [Personalization]
    var from: Address
    var subject: String
    var content: [Content]
    var attachments: [Attachment]?
}

/// Mailgun's answer: `{"id": …, "message": "Queued. Thank you."}` on success, `{"message": …}` on an error.
struct MailgunAnswer: Decodable {
    var id: String?
    var message: String?
}
