import Domain
import Primitives
import Testing

@Suite("Constant-time comparison")
struct ConstantTimeTests {
    @Test("equal only for the same bytes and length")
    func equality() {
        #expect(ConstantTime.equals("secret-token", "secret-token"))
        #expect(!ConstantTime.equals("secret-token", "secret-tokex"))
        #expect(!ConstantTime.equals("secret-token", "secret-token-longer"))
        #expect(!ConstantTime.equals("", "a"))
        #expect(ConstantTime.equals("", ""))
        #expect(!ConstantTime.equals([UInt8](repeating: 0, count: 256), [UInt8](repeating: 0, count: 0)))
    }
}
