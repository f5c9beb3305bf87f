/// The lines of a Sentry envelope (contracts §8), built from an allow-list: nothing here can carry a request
/// body, a header, a cookie or a query string.
enum SentryEnvelope {
    /// The envelope header.
    struct Header: Encodable {
        var eventID: String
        var sentAt: String
        var dsn: String

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id"
            case sentAt = "sent_at"
            case dsn
        }
    }

    /// The item header: one event follows.
    struct Item: Encodable {
        var type = "event"
    }

    /// The event.
    struct Event: Encodable {
        struct Exception: Encodable {
            struct Value: Encodable {
                var type: String
                var value: String
            }

            var values: [Value]
        }

        var eventID: String
        var timestamp: Double
        var platform = "other"
        var level = "error"
        var serverName: String
        var release: String?
        var environment: String?
        var tags: [String: String]
        var exception: Exception

        init(
            eventID: String, timestamp: Double, serverName: String, release: String?, environment: String?, tags: [String: String],
            exception: Exception
        ) {
            self.eventID = eventID
            self.timestamp = timestamp
            self.serverName = serverName
            self.release = release
            self.environment = environment
            self.tags = tags
            self.exception = exception
        }

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id"
            case timestamp, platform, level
            case serverName = "server_name"
            case release, environment, tags, exception
        }
    }
}
