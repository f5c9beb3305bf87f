import Foundation
import Testing
import TestSupport
import Yams

@testable import Functions

@Suite("functions render", .machineShare)
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
            // Tracing on: the function sends spans to the collector beside it, which starts first and reads its
            // settings from the secret deploy.sh stores.
            let tracing = try #require(spec.tracing)
            #expect(dig(yaml, container + ["name"]) as? String == "function")
            #expect(env.contains { $0["name"] as? String == "OTEL_EXPORTER_OTLP_ENDPOINT" && $0["value"] as? String == "http://localhost:4318" })
            let collector: [Any] = ["spec", "template", "spec", "containers", 1]
            #expect(dig(yaml, collector + ["name"]) as? String == "otel-collector")
            #expect(dig(yaml, collector + ["image"]) as? String == tracing.collector_image)
            #expect(dig(yaml, collector + ["ports"]) == nil, "only the function's container takes requests")
            #expect(dig(yaml, collector + ["args", 0]) as? String == "--config=/etc/otelcol-google/config.yaml")
            #expect(dig(yaml, collector + ["startupProbe", "httpGet", "port"]) as? Int == 13133)
            #expect(dig(yaml, collector + ["volumeMounts", 0, "mountPath"]) as? String == "/etc/otelcol-google")
            #expect(dig(yaml, ["spec", "template", "spec", "volumes", 0, "secret", "secretName"]) as? String == tracing.config_secret)
            #expect(dig(yaml, ["spec", "template", "spec", "volumes", 0, "secret", "items", 0, "path"]) as? String == "config.yaml")
            let dependencies = try #require(dig(yaml, ["spec", "template", "metadata", "annotations", "run.googleapis.com/container-dependencies"]) as? String)
            #expect(try JSONSerialization.jsonObject(with: Data(dependencies.utf8)) as? [String: [String]] == ["function": ["otel-collector"]])
        }
        // The collector's settings: OTLP/HTTP on localhost only, traces to Cloud Trace, the health check Cloud Run probes.
        let collector = try Yams.load(yaml: try #require(files.first { $0.0 == "otel/collector.yaml" }?.1))
        #expect(dig(collector, ["receivers", "otlp", "protocols", "http", "endpoint"]) as? String == "localhost:4318")
        #expect(dig(collector, ["receivers", "otlp", "protocols", "grpc"]) == nil)
        #expect(dig(collector, ["service", "pipelines", "traces", "exporters"]) as? [String] == ["googlecloud"])
        #expect(dig(collector, ["service", "pipelines", "traces", "receivers"]) as? [String] == ["otlp"])
        #expect(dig(collector, ["extensions", "health_check", "endpoint"]) as? String == "0.0.0.0:13133")
        #expect((dig(collector, ["service", "pipelines"]) as? [String: Any])?.keys.sorted() == ["traces"])
    }

    @Test("without `tracing` in functions.yaml a service is the function alone, and no span is asked for")
    func withoutTracing() throws {
        var spec = try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))
        spec.tracing = nil
        let files = DeploymentRenderer(spec: spec).render()
        #expect(!files.contains { $0.0 == "otel/collector.yaml" })
        let yaml = try Yams.load(yaml: try #require(files.first { $0.0 == "services/login.yaml" }?.1))
        #expect((dig(yaml, ["spec", "template", "spec", "containers"]) as? [Any])?.count == 1)
        #expect(dig(yaml, ["spec", "template", "spec", "volumes"]) == nil)
        #expect(dig(yaml, ["spec", "template", "metadata", "annotations", "run.googleapis.com/container-dependencies"]) == nil)
        let env = try #require(dig(yaml, ["spec", "template", "spec", "containers", 0, "env"]) as? [[String: Any]])
        #expect(!env.contains { ($0["name"] as? String)?.hasPrefix("OTEL_") == true })
        let script = try #require(files.first { $0.0 == "deploy.sh" }?.1)
        #expect(!script.contains("secrets") && !script.contains("cloudtrace"))
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
        #expect(script.contains("gcloud run services replace services/metrics.yaml --region \"$REGION\""))
        #expect(script.contains("gcloud run services add-iam-policy-binding login --region \"$REGION\" --member allUsers --role roles/run.invoker"))
        #expect(!script.contains("add-iam-policy-binding metrics --region \"$REGION\" --member allUsers"))
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
        // The fake runs on the interpreter itself, not through a version manager's shim on PATH (a shell script that
        // starts one more process): deploy.sh calls it some 90 times, and the whole suite shares two cores.
        let interpreter = try await Python.run("import sys; print(sys.executable)", input: "").output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var fake = try String(contentsOf: FunctionsYAMLTests.packageRoot.appendingPathComponent("Tests/Deploy/fake-gcloud.py"), encoding: .utf8)
        fake = "#!" + interpreter + "\n" + fake.drop { $0 != "\n" }.dropFirst()
        try Data(fake.utf8).write(to: gcloud)
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
        // Between the runs, someone made a private service public by hand: the next deploy takes that back.
        var between = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
        var services = try #require(between["services"] as? [String: Any])
        var metrics = try #require(services["metrics"] as? [String: Any])
        metrics["invokers"] = ((metrics["invokers"] as? [String]) ?? []) + ["allUsers"]
        services["metrics"] = metrics
        between["services"] = services
        try JSONSerialization.data(withJSONObject: between).write(to: state)
        let second = try await offCooperativePool { try deploy() }
        #expect(second.0 == 0, "\(second.1)")
        let recorded = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Any])
        let function = ["containers", "function"]
        #expect(dig(recorded, ["services", "webhook-dispatch"] + function + ["env", "WEBHOOK_RETRY_SCHEDULE"]) as? String == "0,5,300,1800,7200,18000,36000,36000")
        #expect(dig(recorded, ["services", "login"] + function + ["env", "FUNCTION_TARGET"]) as? String == "login")
        #expect(dig(recorded, ["services", "login"] + function + ["secrets", "DATABASE_URL"]) as? String == "functions-database-url:latest")
        #expect(dig(recorded, ["services", "login", "invokers"]) as? [String] == ["allUsers"])
        #expect((dig(recorded, ["services", "metrics", "invokers"]) as? [String] ?? []).contains("allUsers") == false)
        // The collector's settings stored (a new version on each run) and readable by every service's account, each
        // of which may write traces; the collector mounts them.
        #expect((dig(recorded, ["secrets", "functions-otel-collector-config", "versions"]) as? [String])?.count == 2)
        let spec = try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))
        let accounts = Set(spec.functions.map { "serviceAccount:" + $0.service_account })
        #expect(Set(dig(recorded, ["secrets", "functions-otel-collector-config", "accessors"]) as? [String] ?? []) == accounts)
        #expect(Set(dig(recorded, ["project_roles", "roles/cloudtrace.agent"]) as? [String] ?? []) == accounts)
        #expect(dig(recorded, ["services", "login", "containers", "otel-collector", "mounts", 0]) as? String == "/etc/otelcol-google")
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

    @Test("least privilege: receive and dispatch run as their own accounts; only the scheduler's account may invoke the scheduled services, no service's own account invokes anything")
    func invokerBindings() throws {
        let spec = try DeploymentSpec.load(FunctionsYAMLTests.packageRoot.appendingPathComponent("functions.yaml"))
        let accounts = Dictionary(uniqueKeysWithValues: spec.functions.map { ($0.name, $0.service_account) })
        #expect(accounts["webhook-receive"] != accounts["webhook-dispatch"])
        #expect(!accounts.values.contains(spec.scheduler_service_account))
        let script = try #require(try render().first { $0.0 == "deploy.sh" }?.1)
        // Who may invoke what: the run.invoker bindings on services and jobs.
        let bindings = script.split(separator: "\n").filter { $0.contains("run services add-iam-policy-binding") || $0.contains("run jobs add-iam-policy-binding") }
        func members(_ service: String) -> [String] {
            bindings.filter { $0.contains("add-iam-policy-binding \(service) ") }.compactMap { line in
                line.split(separator: " ").drop { $0 != "--member" }.dropFirst().first.map(String.init)
            }
        }
        #expect(members("webhook-dispatch") == ["serviceAccount:\(spec.scheduler_service_account)"])
        #expect(members("send-alert") == ["serviceAccount:\(spec.scheduler_service_account)"])
        #expect(members("webhook-receive") == ["allUsers"] && members("login") == ["allUsers"])
        #expect(members("metrics").isEmpty)
        // Tracing grants each service's account two things only: reading the collector's settings, writing traces.
        let grants = script.split(separator: "\n").filter { $0.contains("add-iam-policy-binding") && !bindings.contains($0) }
        #expect(!grants.isEmpty)
        for grant in grants {
            #expect(
                grant.hasPrefix("gcloud secrets add-iam-policy-binding functions-otel-collector-config ") && grant.hasSuffix("--role roles/secretmanager.secretAccessor")
                    || grant.hasPrefix("gcloud projects add-iam-policy-binding ") && grant.contains("--role roles/cloudtrace.agent "),
                "\(grant)"
            )
        }
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
