import ArgumentParser
import Domain
import Foundation
import Logging
import Store

#if canImport(Glibc)
import Glibc
#endif

/// `functions users …`: user administration. Passwords come from a prompt or stdin, never from argv.
struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create users, set passwords, deactivate, import from Django.",
        subcommands: [Create.self, SetPassword.self, Deactivate.self, ImportDjango.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user (password from the prompt or stdin).")
        @Option(help: "The username (matched exactly at login).") var username: String
        @Option(help: "The email address.") var email: String = ""
        @Flag(help: "Mark the user as staff.") var staff = false

        func run() async throws {
            let password = try readPassword(confirm: true)
            let user = try await withAdmin { admin, logger in
                try await admin.create(username: username, email: email, password: password, isStaff: staff, actor: operatorName(), logger: logger)
            }
            say("created user \(user.username) (id \(user.id))")
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-password", abstract: "Set a user's password (prompt or stdin).")
        @Option(help: "The username.") var username: String

        func run() async throws {
            let password = try readPassword(confirm: true)
            try await withAdmin { admin, logger in
                try await admin.setPassword(username: username, password: password, actor: operatorName(), logger: logger)
            }
            say("password set for \(username)")
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate a user and revoke their refresh tokens.")
        @Option(help: "The username.") var username: String

        func run() async throws {
            try await withAdmin { admin, logger in try await admin.deactivate(username: username, actor: operatorName(), logger: logger) }
            say("deactivated \(username)")
        }
    }

    struct ImportDjango: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-django", abstract: "Copy auth_user rows (ids, hashes, flags) from the Django database; safe to rerun."
        )
        @Option(name: .customLong("from"), help: "The Django database, as a postgres:// URL.") var source: String

        func run() async throws {
            let sourceConfiguration: DatabaseConfiguration
            do {
                sourceConfiguration = try DatabaseConfiguration(url: source)
            } catch {
                fail("--from: \(error.description)")
            }
            let count = try await withAdmin { admin, logger in
                let django = try Database(configuration: sourceConfiguration, logger: logger)
                return try await Migrate.running(django) {
                    try await admin.importDjango(from: django, actor: operatorName(), logger: logger)
                }
            }
            say("imported \(count) users")
        }
    }
}

/// Runs `body` with a user admin over the configured database, turning domain errors into one clear line.
private func withAdmin<T: Sendable>(_ body: @escaping @Sendable (UserAdmin, Logger) async throws -> T) async throws -> T {
    let configuration = try await loadConfiguration()
    let logger = {
        var logger = Logger(label: "users")
        logger.logLevel = .error
        return logger
    }()
    let database = try Database(configuration: try configuration.requireDatabase(), logger: logger)
    let admin = UserAdmin(database: database, hashIterations: configuration.auth.hashIterations)
    do {
        return try await Migrate.running(database) { try await body(admin, logger) }
    } catch AuthError.weakPassword(let problems) {
        fail("password refused:\n  " + problems.joined(separator: "\n  "))
    } catch AuthError.usernameTaken {
        fail("a user with that username already exists")
    } catch AuthError.unknownUser {
        fail("no such user")
    } catch AuthError.invalidUsername {
        fail("--username: Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters (at most 150).")
    } catch StoreError.unavailable {
        fail("the database is unavailable")
    }
}

/// The operator recorded as actor in the audit trail.
private func operatorName() -> String {
    ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "cli"
}

/// Reads a password: from stdin when it is not a terminal (one line), else from a prompt without echo.
func readPassword(confirm: Bool) throws -> String {
    guard isatty(STDIN_FILENO) == 1 else {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else { fail("no password on stdin") }
        return line
    }
    let first = promptHidden("Password: ")
    if confirm {
        let second = promptHidden("Password (again): ")
        guard first == second else { fail("the passwords do not match") }
    }
    return first
}

private func promptHidden(_ prompt: String) -> String {
    FileHandle.standardError.write(Data(prompt.utf8))
    var original = termios()
    tcgetattr(STDIN_FILENO, &original)
    var silent = original
    silent.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    return readLine(strippingNewline: true) ?? ""
}
