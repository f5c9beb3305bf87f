import Foundation

/// A five-field cron expression (minute, hour, day of month, month, day of week; UTC), as Cloud Scheduler reads
/// the `schedule` entries of `functions.yaml`: `*`, `*/n`, `a`, `a-b`, `a-b/n` and lists of them. The local runner
/// uses it to play Cloud Scheduler.
struct CronSchedule: Sendable, Equatable {
    private let fields: [Set<Int>]
    /// Whether day of month and day of week are both restricted (then either matching is enough, as cron has it).
    private let eitherDay: Bool

    private static let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]

    init?(_ text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 5 else { return nil }
        var fields: [Set<Int>] = []
        for (part, range) in zip(parts, Self.ranges) {
            guard let values = Self.values(String(part), range) else { return nil }
            fields.append(values)
        }
        // Sunday is 0 or 7.
        if fields[4].contains(7) { fields[4].insert(0) }
        self.fields = fields
        eitherDay = parts[2] != "*" && parts[4] != "*"
    }

    private static func values(_ field: String, _ range: ClosedRange<Int>) -> Set<Int>? {
        var values = Set<Int>()
        for item in field.split(separator: ",") {
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { return nil }
            let step = stepParts.count == 2 ? Int(stepParts[1]) : 1
            guard let step, step > 0 else { return nil }
            let span: ClosedRange<Int>
            if stepParts[0] == "*" {
                span = range
            } else {
                let bounds = stepParts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
                guard (1...2).contains(bounds.count), let low = bounds[0], let high = bounds.last!, low <= high,
                    range.contains(low), range.contains(high)
                else { return nil }
                span = low...high
            }
            values.formUnion(stride(from: span.lowerBound, through: span.upperBound, by: step))
        }
        return values.isEmpty ? nil : values
    }

    /// Whether the schedule fires in the minute of `date` (UTC).
    func matches(_ date: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: date)
        guard let minute = parts.minute, let hour = parts.hour, let day = parts.day, let month = parts.month, let weekday = parts.weekday else {
            return false
        }
        guard fields[0].contains(minute), fields[1].contains(hour), fields[3].contains(month) else { return false }
        let dayOfMonth = fields[2].contains(day)
        let dayOfWeek = fields[4].contains(weekday - 1)
        return eitherDay ? dayOfMonth || dayOfWeek : dayOfMonth && dayOfWeek
    }
}
