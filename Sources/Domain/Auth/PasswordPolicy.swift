/// Django's validators for every place a password is set (never on login): minimum length in Unicode
/// scalars, not entirely numeric, not a common password. All failures are reported together, in Django's words.
public struct PasswordPolicy: Sendable {
    /// The minimum length (the original's is 12).
    public let minimumLength: Int

    /// A policy with the given minimum length.
    public init(minimumLength: Int = 12) {
        self.minimumLength = minimumLength
    }

    /// Django's messages for each failure, in validator order; empty when the password is acceptable.
    public func problems(with password: String) -> [String] {
        var problems: [String] = []
        if password.unicodeScalars.count < minimumLength {
            problems.append(
                minimumLength == 1
                    ? "This password is too short. It must contain at least 1 character."
                    : "This password is too short. It must contain at least \(minimumLength) characters."
            )
        }
        if CommonPasswords.contains(password) {
            problems.append("This password is too common.")
        }
        // Python's str.isdigit(): every scalar has the Decimal or Digit numeric type.
        if !password.isEmpty, password.unicodeScalars.allSatisfy({ $0.properties.numericType == .decimal || $0.properties.numericType == .digit }) {
            problems.append("This password is entirely numeric.")
        }
        return problems
    }
}
