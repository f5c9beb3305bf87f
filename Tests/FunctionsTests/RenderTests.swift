import Foundation
import Testing
import TestSupport
import Yams

@testable import Functions

@Suite("functions render")
struct RenderTests {
    func render() throws -> [(String, String)] {
        DeploymentRenderer(spec: try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))).render()
    }

    func dig(_ value: Any?, _ path: [Any]) -> Any? {
        var current = value
        for key in path {
            if let key = key as? String { current = (current as? [String: Any])?[key] }
            if let index = key as? Int { current = (current as? [Any]).flatMap { $0.indices.contains(index) ? $0[index] : nil } }
        }
        return current
    }

    @Test("a Knative service per function with the required fields, probes, scaling, secrets and the function's target")
    func services() throws {
        let files = try render()
        #expect(try render().map(\.1) == files.map(\.1), "output must be deterministic")
        let spec = try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))
        for function in spec.functions {
            let text = try #require(files.first { $0.0 == "services/\(function.name).yaml" }?.1)
            let yaml = try Yams.load(yaml: text)
            #expect(dig(yaml, ["apiVersion"]) as? String == "serving.knative.dev/v1")
            #expect(dig(yaml, ["kind"]) as? String == "Service")
            #expect(dig(yaml, ["metadata", "name"]) as? String == function.name)
            let container: [Any] = ["spec", "template", "spec", "containers", 0]
            #expect(dig(yaml, container + ["image"]) as? String == spec.image)
            #expect(dig(yaml, container + ["startupProbe", "httpGet", "path"]) as? String == "/ready")
            #expect(dig(yaml, container + ["livenessProbe", "httpGet", "path"]) as? String == "/health")
            #expect(dig(yaml, ["spec", "template", "spec", "containerConcurrency"]) as? Int == function.concurrency)
            #expect(dig(yaml, ["spec", "template", "spec", "timeoutSeconds"]) as? Int == function.timeout_seconds)
            #expect(dig(yaml, ["spec", "template", "metadata", "annotations", "autoscaling.knative.dev/maxScale"]) as? String == String(function.max_instances))
            let env = try #require(dig(yaml, container + ["env"]) as? [[String: Any]])
            #expect(env.contains { $0["name"] as? String == "FUNCTION_TARGET" && $0["value"] as? String == function.name })
            for secret in function.secrets.keys {
                #expect(env.contains { $0["name"] as? String == secret && dig($0, ["valueFrom", "secretKeyRef", "name"]) != nil }, "\(secret)")
            }
        }
    }

    @Test("the migration job, the scheduler jobs with OIDC for every scheduled route, and a gcloud script that parses")
    func jobsAndScript() async throws {
        let files = try render()
        let job = try Yams.load(yaml: try #require(files.first { $0.0 == "jobs/functions-migrate.yaml" }?.1))
        #expect(dig(job, ["kind"]) as? String == "Job")
        #expect(dig(job, ["spec", "template", "spec", "template", "spec", "containers", 0, "args", 0]) as? String == "migrate")
        let scheduler = try Yams.load(yaml: try #require(files.first { $0.0 == "scheduler/jobs.yaml" }?.1))
        let jobs = try #require(dig(scheduler, ["jobs"]) as? [[String: Any]])
        #expect(Set(jobs.compactMap { $0["name"] as? String }) == ["webhook-dispatch-drain", "send-alert-drain", "functions-maintain"])
        for entry in jobs where entry["name"] as? String != "functions-maintain" {
            #expect(entry["schedule"] as? String == "* * * * *")
            #expect(dig(entry, ["httpTarget", "oidcToken", "serviceAccountEmail"]) != nil)
            #expect((dig(entry, ["httpTarget", "uri"]) as? String)?.hasSuffix("/drain") == true)
        }
        // The retention purge: a job with the retention settings, as the jobs' account, run daily through the Run
        // Admin API with an OAuth token.
        let maintain = try Yams.load(yaml: try #require(files.first { $0.0 == "jobs/functions-maintain.yaml" }?.1))
        let jobSpec: [Any] = ["spec", "template", "spec", "template", "spec"]
        #expect(dig(maintain, jobSpec + ["containers", 0, "args", 0]) as? String == "maintain")
        #expect(dig(maintain, jobSpec + ["serviceAccountName"]) as? String == "functions-jobs@PROJECT_ID.iam.gserviceaccount.com")
        #expect(dig(job, jobSpec + ["serviceAccountName"]) as? String == "functions-jobs@PROJECT_ID.iam.gserviceaccount.com")
        let maintainEnv = try #require(dig(maintain, jobSpec + ["containers", 0, "env"]) as? [[String: Any]])
        #expect(maintainEnv.contains { $0["name"] as? String == "RETENTION_AUDIT_DAYS" && $0["value"] as? String == "2557" })
        #expect(maintainEnv.contains { $0["name"] as? String == "DATABASE_URL" && dig($0, ["valueFrom", "secretKeyRef", "name"]) != nil })
        let trigger = try #require(jobs.first { $0["name"] as? String == "functions-maintain" })
        #expect(trigger["schedule"] as? String == "30 3 * * *")
        #expect(dig(trigger, ["httpTarget", "uri"]) as? String == "https://run.googleapis.com/v2/projects/PROJECT_ID/locations/europe-west1/jobs/functions-maintain:run")
        #expect(dig(trigger, ["httpTarget", "oauthToken", "serviceAccountEmail"]) as? String == "functions-scheduler@PROJECT_ID.iam.gserviceaccount.com")
        // Audit entries kept seven years in their own bucket.
        let logging = try Yams.load(yaml: try #require(files.first { $0.0 == "logging/audit.yaml" }?.1))
        #expect(dig(logging, ["bucket", "retentionDays"]) as? Int == 2557)
        #expect(dig(logging, ["sink", "filter"]) as? String == #"jsonPayload.audit="true""#)
        let script = try #require(files.first { $0.0 == "deploy.sh" }?.1)
        #expect(script.contains("gcloud run jobs replace jobs/functions-maintain.yaml"))
        #expect(script.contains("gcloud run jobs add-iam-policy-binding functions-maintain --region \"$REGION\" --member serviceAccount:functions-scheduler@"))
        #expect(script.contains("gcloud scheduler jobs \"$MODE\" http functions-maintain") && script.contains("--oauth-service-account-email"))
        #expect(script.contains("gcloud logging buckets \"$MODE\" functions-audit --location global --retention-days 2557"))
        #expect(script.contains("gcloud logging sinks \"$MODE\" functions-audit \"logging.googleapis.com/projects/$PROJECT/locations/global/buckets/functions-audit\""))
        #expect(script.contains("gcloud run deploy metrics") && script.contains("--no-allow-unauthenticated"))
        #expect(script.contains("gcloud run deploy login") && script.contains("--allow-unauthenticated"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-\(UUID().uuidString).sh")
        try Data(script.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/bin/bash")
        check.arguments = ["-n", url.path]
        let status = try await offCooperativePool {
            try check.run()
            check.waitUntilExit()
            return check.terminationStatus
        }
        #expect(status == 0)
    }

    @Test("deploy.sh runs twice against a gcloud that refuses to create what exists, and every setting arrives whole")
    func deployTwice() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        for (path, text) in try render() {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        let bin = folder.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let gcloud = bin.appendingPathComponent("gcloud")
        try FileManager.default.copyItem(at: FunctionsYAMLTests.packageRoot.appendingPathComponent("Tests/Deploy/fake-gcloud.py"), to: gcloud)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: gcloud.path)
        let state = folder.appendingPathComponent("state.json")
        @Sendable func deploy() throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["deploy.sh"]
            process.currentDirectoryURL = folder
            process.environment = [
                "PATH": bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"), "FAKE_GCLOUD_STATE": state.path,
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let first = try await offCooperativePool { try deploy() }
        #expect(first.0 == 0, "\(first.1)")
        let second = try await offCooperativePool { try deploy() }
        #expect(second.0 == 0, "\(second.1)")
        let recorded = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
        #expect(dig(recorded, ["services", "webhook-dispatch", "env", "WEBHOOK_RETRY_SCHEDULE"]) as? String == "0,5,300,1800,7200,18000,36000,36000")
        #expect(dig(recorded, ["services", "login", "env", "FUNCTION_TARGET"]) as? String == "login")
        #expect(dig(recorded, ["services", "login", "secrets", "DATABASE_URL"]) as? String == "functions-database-url:latest")
        let scheduler = try #require(dig(recorded, ["scheduler"]) as? [String: Any])
        #expect(Set(scheduler.keys) == ["webhook-dispatch-drain", "send-alert-drain", "functions-maintain"])
        #expect(dig(recorded, ["buckets", "functions-audit", "retention_days"]) as? String == "2557")
        #expect(dig(recorded, ["jobs", "functions-maintain", "invokers"]) as? [String] == ["serviceAccount:functions-scheduler@PROJECT_ID.iam.gserviceaccount.com"])
        // The fake is strict: the create-only form deploy.sh once had fails on a second run.
        let again = Process()
        again.executableURL = gcloud
        again.arguments = ["scheduler", "jobs", "create", "http", "functions-maintain", "--schedule", "* * * * *", "--uri", "https://x"]
        again.environment = ["FAKE_GCLOUD_STATE": state.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        again.standardError = FileHandle.nullDevice
        let refused = try await offCooperativePool {
            try again.run()
            again.waitUntilExit()
            return again.terminationStatus
        }
        #expect(refused != 0)
    }

    @Test("a list flag's value reaches gcloud whole: commas inside values switch to gcloud's ^D^ escape")
    func gcloudEscaping() {
        #expect(DeploymentRenderer.gcloudList(["A=1", "B=2"]) == "A=1,B=2")
        #expect(DeploymentRenderer.gcloudList(["A=0,5", "B=2"]) == "^@^A=0,5@B=2")
        #expect(DeploymentRenderer.gcloudList(["A=a@b,c", "B=2"]) == "^|^A=a@b,c|B=2")
    }

    @Test("least privilege: receive and dispatch run as their own accounts; only the scheduler's account may invoke the scheduled services, no service's own account invokes anything")
    func invokerBindings() throws {
        let spec = try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))
        let accounts = Dictionary(uniqueKeysWithValues: spec.functions.map { ($0.name, $0.service_account) })
        #expect(accounts["webhook-receive"] != accounts["webhook-dispatch"])
        #expect(!accounts.values.contains(spec.scheduler_service_account))
        let script = try #require(try render().first { $0.0 == "deploy.sh" }?.1)
        let bindings = script.split(separator: "\n").filter { $0.contains("add-iam-policy-binding") }
        func members(_ service: String) -> [String] {
            bindings.filter { $0.contains("add-iam-policy-binding \(service) ") }.compactMap { line in
                line.split(separator: " ").drop { $0 != "--member" }.dropFirst().first.map(String.init)
            }
        }
        #expect(members("webhook-dispatch") == ["serviceAccount:\(spec.scheduler_service_account)"])
        #expect(members("send-alert") == ["serviceAccount:\(spec.scheduler_service_account)"])
        #expect(members("webhook-receive").isEmpty && members("login").isEmpty)
        for account in accounts.values { #expect(!bindings.contains { $0.contains("serviceAccount:\(account) ") }, "\(account)") }
        let scheduler = try Yams.load(yaml: try #require(try render().first { $0.0 == "scheduler/jobs.yaml" }?.1))
        for job in try #require(dig(scheduler, ["jobs"]) as? [[String: Any]]) {
            let token = dig(job, ["httpTarget", "oidcToken", "serviceAccountEmail"]) ?? dig(job, ["httpTarget", "oauthToken", "serviceAccountEmail"])
            #expect(token as? String == spec.scheduler_service_account)
        }
        // The jobs run as their own account, which invokes nothing.
        #expect(!bindings.contains { $0.contains("serviceAccount:\(spec.jobs_service_account ?? "-") ") })
    }

    @Test("render refuses a drain budget + attempt timeout, or a first-attempt budget, that does not fit the function's timeout_seconds")
    func timingFits() throws {
        let spec = try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))
        #expect(spec.timingProblems().isEmpty)
        var tight = spec
        for index in tight.functions.indices where tight.functions[index].name == "webhook-dispatch" {
            tight.functions[index].env["WEBHOOK_DRAIN_BUDGET_SECONDS"] = "100"
            tight.functions[index].env["WEBHOOK_IMMEDIATE_BUDGET_MS"] = "10000"
            tight.functions[index].timeout_seconds = 9
        }
        for index in tight.functions.indices where tight.functions[index].name == "send-alert" {
            tight.functions[index].env["ALERT_TIMEOUT_SECONDS"] = "80"
        }
        let problems = tight.timingProblems()
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains("webhook-dispatch: WEBHOOK_DRAIN_BUDGET_SECONDS + WEBHOOK_TIMEOUT_SECONDS is 130 s, more than its timeout_seconds (9)"))
        #expect(problems.contains("webhook-dispatch: WEBHOOK_IMMEDIATE_BUDGET_MS is 10 s, more than its timeout_seconds (9)"))
        #expect(problems.contains { $0.hasPrefix("send-alert: the 50 s drain budget + ALERT_TIMEOUT_SECONDS is 130 s") })
    }
}
