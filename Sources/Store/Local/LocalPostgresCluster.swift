import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster in a folder: created on first use, started on a free loopback port,
/// stopped on request. The local runner keeps one in the checkout; the test run makes a throwaway one.
///
/// As root it runs the server binaries as the `postgres` user (PostgreSQL refuses to run as root).
public struct LocalPostgresCluster: Sendable {
    /// The folder holding `data/`, the server log and the socket.
    public let directory: URL
    /// Where `initdb` and `pg_ctl` live.
    public let binDirectory: String
    /// Trade durability for speed (`fsync=off`): for throwaway test clusters only.
    public let ephemeral: Bool

    /// Finds the server binaries (`PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`).
    public init(directory: URL, ephemeral: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.directory = directory
        self.ephemeral = ephemeral
        if let bin = environment["PG_BIN"], !bin.isEmpty {
            self.binDirectory = bin
        } else if let found = Self.findBinaries() {
            self.binDirectory = found
        } else {
            throw ClusterError(
                "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin; set PG_BIN, or install them: apt-get install -y postgresql)"
            )
        }
    }

    var dataDirectory: URL { directory.appendingPathComponent("data") }
    var logFile: URL { directory.appendingPathComponent("server.log") }
    static var runningAsRoot: Bool { geteuid() == 0 }

    /// Creates the cluster if needed and starts it (or finds it running) on `port` (a free one when nil);
    /// returns the configuration to reach it.
    public func start(port requestedPort: Int? = nil) throws -> DatabaseConfiguration {
        let files = FileManager.default
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        if Self.runningAsRoot { try run("/bin/chown", ["-R", "postgres:postgres", directory.path]) }
        if !files.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            try server(
                "initdb",
                ["-D", dataDirectory.path, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"]
            )
        }
        if let port = runningPort() {
            return configuration(port: port)
        }
        let port = try requestedPort ?? Self.freePort()
        // A test run shares one cluster among every suite and the serving processes they start (each keeps its
        // whole pool open), so it gets more connections than a local runner needs.
        let connections = ephemeral ? 600 : 200
        var options = "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c max_connections=\(connections)"
        if ephemeral { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
        try server("pg_ctl", ["-D", dataDirectory.path, "-l", logFile.path, "-o", options, "-w", "-t", "60", "start"])
        return configuration(port: port)
    }

    /// Stops the server (fast mode: open sessions are ended, data is kept).
    public func stop() throws {
        guard runningPort() != nil else { return }
        try server("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// The port of a server already running on this data folder, read from `postmaster.pid`.
    public func runningPort() -> Int? {
        let pidFile = dataDirectory.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 3, let pid = Int32(lines[0]), kill(pid, 0) == 0 || errno == EPERM, let port = Int(lines[3]) else {
            return nil
        }
        return port
    }

    func configuration(port: Int) -> DatabaseConfiguration {
        DatabaseConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port), username: "postgres", database: "postgres", sslMode: .disable)
    }

    private func server(_ tool: String, _ arguments: [String]) throws {
        let path = "\(binDirectory)/\(tool)"
        if Self.runningAsRoot {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        } else {
            try run(path, arguments)
        }
    }

    /// Runs a tool to completion with `posix_spawn` and `waitpid`, output to a file.
    ///
    /// Not Foundation's `Process`: on Linux it learns of the child's exit through a descriptor the child
    /// inherits, and the server that `pg_ctl start` leaves running inherits it too, so the wait never ends.
    private func run(_ executable: String, _ arguments: [String]) throws {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pgtool-\(UUID().uuidString).log").path
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw ClusterError("could not start \(executable): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw ClusterError("waitpid failed for \(executable)") }
        }
        let exitedCleanly = (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0
        guard exitedCleanly else {
            let text = ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            throw ClusterError("\((executable as NSString).lastPathComponent) \(arguments.first ?? "") failed: \(text)")
        }
    }

    private static func findBinaries() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/pg_ctl") {
            return "\(root)/\(version)/bin"
        }
        return nil
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClusterError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw ClusterError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw ClusterError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The local cluster could not be created, started or stopped.
public struct ClusterError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the tool's own output.
    public let description: String
    init(_ description: String) { self.description = description }
}
