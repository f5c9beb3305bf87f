import ArgumentParser
import Foundation

/// `functions render`: writes the deployment files for every function in `functions.yaml`.
struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write Cloud Run services, the migration job, Cloud Scheduler jobs and a gcloud script from functions.yaml."
    )

    @Option(help: "The functions.yaml to read.") var file: String = "functions.yaml"
    @Option(help: "The folder to write into.") var output: String = "deploy"

    func run() async throws {
        let spec: DeploymentSpec
        do {
            spec = try DeploymentSpec.load(URL(fileURLWithPath: file))
        } catch {
            fail("cannot read \(file): \(error)")
        }
        let problems = spec.timingProblems()
        guard problems.isEmpty else { fail("\(file) does not fit together:\n" + problems.joined(separator: "\n")) }
        let root = URL(fileURLWithPath: output)
        for (path, content) in DeploymentRenderer(spec: spec).render() {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
            if path.hasSuffix(".sh") { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path) }
            say("wrote \(url.path)")
        }
    }
}
