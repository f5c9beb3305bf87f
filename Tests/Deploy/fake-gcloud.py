#!/usr/bin/env python3
"""A stand-in for `gcloud` that deploy.sh is run against in the tests (no network, no Google Cloud).

It parses its arguments as gcloud does (`--flag value` and `--flag=value`; list flags split on commas unless the
value starts with gcloud's `^D^` escape, `gcloud topic escaping`), keeps what exists in $FAKE_GCLOUD_STATE (a JSON
file), refuses to create what exists or update what does not (as gcloud does), and fails on any command it does
not know, so a script that relies on something else fails here too. `run services replace` reads the Knative
YAML as Cloud Run does (PyYAML) and records each container's settings.
"""
import json, os, sys

STATE = os.environ["FAKE_GCLOUD_STATE"]
LIST_FLAGS = {"--set-env-vars", "--set-secrets"}


def load():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save(state):
    with open(STATE, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)


def split_list(value):
    if value.startswith("^") and value.index("^", 1) > 1:
        end = value.index("^", 1)
        return value[end + 1:].split(value[1:end])
    return value.split(",")


def parse(args):
    positional, flags = [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            if "=" in arg:
                name, value = arg.split("=", 1)
            elif arg in ("--wait", "--quiet"):
                name, value = arg, True
            else:
                if i + 1 >= len(args):
                    die(f"flag {arg} has no value")
                name, value = arg, args[i + 1]
                i += 1
            if name in LIST_FLAGS:
                items = split_list(value)
                pairs = {}
                for item in items:
                    if "=" not in item:
                        die(f"{name}: {item!r} is not KEY=VALUE")
                    key, val = item.split("=", 1)
                    pairs[key] = val
                value = pairs
            flags[name] = value
        else:
            positional.append(arg)
        i += 1
    return positional, flags


def die(message, code=1):
    print(f"ERROR: (gcloud) {message}", file=sys.stderr)
    sys.exit(code)


def main():
    positional, flags = parse(sys.argv[1:])
    state = load()
    command = " ".join(positional[:3])
    kind = None
    if positional[:2] == ["config", "get-value"]:
        print("test-project")
        return
    if positional[:3] == ["run", "services", "replace"]:
        path = positional[3]
        if not os.path.exists(path):
            die(f"no such file {path}")
        import yaml  # only here: the other commands start faster without it

        with open(path) as f:
            service = yaml.safe_load(f)
        if service.get("apiVersion") != "serving.knative.dev/v1" or service.get("kind") != "Service":
            die(f"{path} is not a Cloud Run service")
        name = service["metadata"]["name"]
        template = service["spec"]["template"]
        containers = template["spec"]["containers"]
        if sum(1 for c in containers if c.get("ports")) != 1:
            die("exactly one container must have a port (the ingress container)")
        names = [c.get("name") for c in containers]
        if len(containers) > 1 and (None in names or len(set(names)) != len(names)):
            die("every container of a multi-container service needs its own name")
        dependencies = json.loads(template.get("metadata", {}).get("annotations", {}).get("run.googleapis.com/container-dependencies", "{}"))
        for container, needs in dependencies.items():
            if container not in names or any(n not in names for n in needs):
                die(f"container-dependencies names a container that does not exist: {container} -> {needs}")
        volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
        recorded = {"invokers": state.get("services", {}).get(name, {}).get("invokers", []), "containers": {}}
        for container in containers:
            env, secrets = {}, {}
            for item in container.get("env", []):
                if "value" in item:
                    env[item["name"]] = item["value"]
                else:
                    ref = item["valueFrom"]["secretKeyRef"]
                    secrets[item["name"]] = f'{ref["name"]}:{ref["key"]}'
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    die(f"volume {mount['name']} is mounted but not defined")
                secret = volumes[mount["name"]]["secret"]["secretName"]
                if secret not in state.get("secrets", {}):
                    die(f"secret {secret} does not exist")
            recorded["containers"][container.get("name") or "0"] = {"image": container["image"], "env": env, "secrets": secrets,
                                                                      "mounts": [m["mountPath"] for m in container.get("volumeMounts", [])]}
        state.setdefault("services", {})[name] = recorded
    elif positional[:3] == ["run", "services", "describe"]:
        name = positional[3]
        if name not in state.get("services", {}):
            die(f"service {name} not found")
        print(f"https://{name}-hash-ew.a.run.app")
    elif positional[:3] in (["run", "services", "add-iam-policy-binding"], ["run", "jobs", "add-iam-policy-binding"]):
        kind = "services" if positional[1] == "services" else "jobs"
        name = positional[3]
        if name not in state.get(kind, {}):
            die(f"{kind[:-1]} {name} not found")
        bindings = state[kind][name].setdefault("invokers", [])
        if flags["--member"] not in bindings:
            bindings.append(flags["--member"])
    elif positional[:3] == ["run", "services", "get-iam-policy"]:
        name = positional[3]
        if name not in state.get("services", {}):
            die(f"service {name} not found")
        members = state["services"][name].get("invokers", [])
        print(json.dumps({"bindings": [{"role": "roles/run.invoker", "members": members}] if members else []}))
        return
    elif positional[:3] == ["run", "services", "remove-iam-policy-binding"]:
        name = positional[3]
        members = state.get("services", {}).get(name, {}).get("invokers", [])
        if flags["--member"] not in members:
            die(f"policy binding with the specified principal, role, and condition not found")
        members.remove(flags["--member"])
    elif positional[:2] == ["secrets", "describe"]:
        if positional[2] not in state.get("secrets", {}):
            die(f"secret {positional[2]} not found")
    elif positional[:2] == ["secrets", "create"]:
        name, secrets = positional[2], state.setdefault("secrets", {})
        if name in secrets:
            die(f"secret {name} already exists")
        with open(flags["--data-file"]) as f:
            secrets[name] = {"versions": [f.read()], "accessors": []}
    elif positional[:3] == ["secrets", "versions", "add"]:
        name = positional[3]
        if name not in state.get("secrets", {}):
            die(f"secret {name} not found")
        with open(flags["--data-file"]) as f:
            state["secrets"][name]["versions"].append(f.read())
    elif positional[:2] == ["secrets", "add-iam-policy-binding"]:
        name = positional[2]
        if name not in state.get("secrets", {}):
            die(f"secret {name} not found")
        accessors = state["secrets"][name]["accessors"]
        if flags["--member"] not in accessors:
            accessors.append(flags["--member"])
    elif positional[:2] == ["projects", "add-iam-policy-binding"]:
        roles = state.setdefault("project_roles", {}).setdefault(flags["--role"], [])
        if flags["--member"] not in roles:
            roles.append(flags["--member"])
    elif positional[:3] == ["run", "jobs", "replace"]:
        path = positional[3]
        if not os.path.exists(path):
            die(f"no such file {path}")
        name = os.path.basename(path).rsplit(".", 1)[0]
        state.setdefault("jobs", {}).setdefault(name, {})["file"] = path
    elif positional[:3] == ["run", "jobs", "execute"]:
        if positional[3] not in state.get("jobs", {}):
            die(f"job {positional[3]} not found")
    elif positional[:3] == ["scheduler", "jobs", "describe"]:
        if positional[3] not in state.get("scheduler", {}):
            die(f"scheduler job {positional[3]} not found")
    elif positional[:2] == ["scheduler", "jobs"] and positional[2] in ("create", "update") and positional[3] == "http":
        name, jobs = positional[4], state.setdefault("scheduler", {})
        if positional[2] == "create" and name in jobs:
            die(f"scheduler job {name} already exists", 1)
        if positional[2] == "update" and name not in jobs:
            die(f"scheduler job {name} not found")
        jobs[name] = {"schedule": flags["--schedule"], "uri": flags["--uri"]}
    elif positional[:3] in (["logging", "buckets", "describe"], ["logging", "sinks", "describe"]):
        kind = positional[1]
        if positional[3] not in state.get(kind, {}):
            die(f"{kind[:-1]} {positional[3]} not found")
    elif positional[:2] in (["logging", "buckets"], ["logging", "sinks"]) and positional[2] in ("create", "update"):
        kind, name = positional[1], positional[3]
        existing = state.setdefault(kind, {})
        if positional[2] == "create" and name in existing:
            die(f"{kind[:-1]} {name} already exists")
        if positional[2] == "update" and name not in existing:
            die(f"{kind[:-1]} {name} not found")
        existing[name] = {"retention_days": flags.get("--retention-days"), "filter": flags.get("--log-filter"),
                          "destination": positional[4] if len(positional) > 4 else existing.get(name, {}).get("destination")}
    else:
        die(f"the fake gcloud does not know: {command}", 2)
    save(state)


main()
