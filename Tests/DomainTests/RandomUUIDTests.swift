import Domain
import Foundation
import Primitives
import Testing

@Suite("Random UUIDs")
struct RandomUUIDTests {
    @Test("version 4, RFC 4122 variant, and no repeats over 100,000")
    func versionAndUniqueness() {
        var seen = Set<UUID>()
        for _ in 0..<100_000 {
            let id = UUID.random()
            #expect(id.uuid.6 >> 4 == 4 && id.uuid.8 >> 6 == 0b10)
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
        let text = UUID.random().uuidString
        #expect(text.count == 36 && text[text.index(text.startIndex, offsetBy: 14)] == "4")
    }
}
