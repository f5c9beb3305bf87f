import CommonPasswordList
import Foundation

/// Django's `CommonPasswordValidator` list: a password is common when, lowercased and trimmed, it is listed.
public enum CommonPasswords {
    /// The list as a set, built once on first use (constant data, not request state).
    static let set: Set<Substring> = Set(CommonPasswordList.text.split(separator: "\n"))

    /// True when `password` is on the list.
    public static func contains(_ password: String) -> Bool {
        let normalised = password.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return set.contains(Substring(normalised))
    }
}
