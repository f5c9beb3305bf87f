import Domain
import Foundation
import Primitives
import Testing

@Suite("what partners send, made safe to store; keys of any content")
struct PartnerTextTests {
    @Test("NUL and invalid UTF-8 become U+FFFD; the result is cut on a character boundary within the byte limit")
    func stored() {
        #expect(PartnerText.stored(Data("a\u{0}b".utf8)) == "a\u{FFFD}b")
        #expect(PartnerText.stored(Data([0x61, 0xFF, 0xC3, 0x28])) == "a\u{FFFD}\u{FFFD}(")
        let euros = String(repeating: "€", count: 400)  // 3 bytes each
        let cut = PartnerText.stored(Data(euros.utf8), maxBytes: 1024)
        #expect(cut.utf8.count == 1023 && cut == String(repeating: "€", count: 341))
        #expect(PartnerText.stored(Data(repeating: 0, count: 5000)).utf8.count <= 1024)
        #expect(!PartnerText.stored("x\u{0}y", maxBytes: 10).contains("\u{0}"))
        #expect(PartnerText.stored(Data()) == "")
    }

    @Test("idempotency keys: short printable text kept, anything else hashed the same way every time")
    func keys() {
        #expect(IdempotencyKey.stored("order-42") == "order-42")
        let long = String(repeating: "k", count: 3000)
        #expect(IdempotencyKey.stored(long) == IdempotencyKey.stored(long))
        #expect(IdempotencyKey.stored(long).hasPrefix("sha256:") && IdempotencyKey.stored(long).utf8.count == 71)
        #expect(IdempotencyKey.stored("a\u{0}b").hasPrefix("sha256:"))
        #expect(IdempotencyKey.stored("a\u{0}b") != IdempotencyKey.stored("a\u{0}c"))
        // A caller cannot collide with a hashed key by sending its stored form.
        #expect(IdempotencyKey.stored(IdempotencyKey.stored(long)) != IdempotencyKey.stored(long))
        #expect(IdempotencyKey.hasControlCharacters("a\u{7}") && IdempotencyKey.hasControlCharacters("a\u{2028}"))
        #expect(IdempotencyKey.hasControlCharacters("a\u{85}") && !IdempotencyKey.hasControlCharacters("ü-ok"))
    }

    @Test("delivery failures: refused URLs and unopenable secrets are never retried; network failures are")
    func failures() {
        for failure in [DeliveryFailure.ssrfBlocked, .insecureURL, .invalidURL, .undecryptableSecret, .undecryptablePayload] {
            #expect(!failure.isRetryable, "\(failure)")
        }
        for failure in [DeliveryFailure.timeout, .connect, .tls, .dns, .httpStatus] { #expect(failure.isRetryable, "\(failure)") }
        #expect(!DeliveryFailure.undecryptablePayload.disablesEndpoint && DeliveryFailure.ssrfBlocked.disablesEndpoint)
    }

    @Test("a claim holds as many rounds of attempts as fit in the lease, keeping two seconds")
    func rounds() {
        var settings = WebhookSettings()
        #expect(settings.rounds(timeout: .seconds(30)) == 2)  // 65 s lease
        #expect(settings.rounds(timeout: .seconds(2)) == 31)
        settings.lease = .seconds(4)
        #expect(settings.rounds(timeout: .seconds(5)) == 1)
    }

    @Test("an attempt starts only while its timeout fits the drain and its lease, keeping a second to record it")
    func attemptWindow() {
        let start = ContinuousClock.now
        let window = AttemptWindow(started: start, deadline: start + .seconds(100), attemptTimeout: .seconds(30))
        #expect(!window.isClosed(at: start + .seconds(70)) && window.isClosed(at: start + .seconds(71)))
        #expect(window.timeout(at: start + .seconds(70)) == .seconds(30))
        // The default drain (50 s, 30 s timeouts): until 25 s, the last attempts with what is left.
        let defaults = AttemptWindow(started: start, deadline: start + .seconds(50), attemptTimeout: .seconds(30))
        #expect(!defaults.isClosed(at: start + .seconds(25)) && defaults.timeout(at: start + .seconds(25)) == .seconds(25))
        #expect(window.fits(at: start, leaseEnds: start + .seconds(31)) && !window.fits(at: start, leaseEnds: start + .milliseconds(30_999)))
        // A budget shorter than two timeouts: attempts start until half of it, with the timeout cut to what is left.
        let short = AttemptWindow(started: start, deadline: start + .seconds(2), attemptTimeout: .seconds(2))
        #expect(!short.isClosed(at: start + .seconds(1)) && short.isClosed(at: start + .milliseconds(1001)))
        #expect(short.timeout(at: start + .seconds(1)) == .seconds(1))
    }
}
