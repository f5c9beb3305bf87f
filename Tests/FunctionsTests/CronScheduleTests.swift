import Foundation
import Testing

@testable import Functions

@Suite("cron schedules, as the local runner plays Cloud Scheduler")
struct CronScheduleTests {
    func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test("every minute, steps, ranges, lists, and days of month or week")
    func matching() throws {
        let everyMinute = try #require(CronSchedule("* * * * *"))
        #expect(everyMinute.matches(at("2026-12-03T09:17:00Z")))
        let daily = try #require(CronSchedule("30 3 * * *"))
        #expect(daily.matches(at("2026-12-03T03:30:00Z")) && !daily.matches(at("2026-12-03T03:31:00Z")) && !daily.matches(at("2026-12-03T04:30:00Z")))
        let steps = try #require(CronSchedule("*/15 9-17 * * 1-5"))
        #expect(steps.matches(at("2026-12-03T09:45:00Z")))  // a Thursday
        #expect(!steps.matches(at("2026-12-05T09:45:00Z")))  // a Saturday
        #expect(!steps.matches(at("2026-12-03T09:50:00Z")))
        // Day of month or day of week, when both are given (cron's rule); Sunday is 0 or 7.
        let either = try #require(CronSchedule("0 0 1 * 7"))
        #expect(either.matches(at("2026-12-01T00:00:00Z")) && either.matches(at("2026-12-06T00:00:00Z")) && !either.matches(at("2026-12-02T00:00:00Z")))
        let list = try #require(CronSchedule("5,10 * * * *"))
        #expect(list.matches(at("2026-12-03T01:10:00Z")) && !list.matches(at("2026-12-03T01:11:00Z")))
    }

    @Test("malformed expressions are refused")
    func refusals() {
        for text in ["", "* * * *", "* * * * * *", "60 * * * *", "*/0 * * * *", "5-1 * * * *", "a * * * *", "* 24 * * *", "1-2-3 * * * *"] {
            #expect(CronSchedule(text) == nil, "\(text)")
        }
    }
}
