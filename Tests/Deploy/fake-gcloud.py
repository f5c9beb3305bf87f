#!/usr/bin/env python3
"""A stand-in for `gcloud` that deploy.sh is run against in the tests (no network, no Google Cloud).

It parses its arguments as gcloud does (`--flag value` and `--flag=value`; list flags split on commas unless the
value starts with gcloud's `^D^` escape, `gcloud topic escaping`), keeps what exists in $FAKE_GCLOUD_STATE (a JSON
file), refuses to create what exists or update what does not (as gcloud does), and fails on any command it does
not know, so a script that relies on something else fails here too.
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
            elif arg in ("--wait", "--quiet", "--allow-unauthenticated", "--no-allow-unauthenticated"):
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
    if positional[:2] == ["run", "deploy"]:
        name = positional[2]
        state.setdefault("services", {})[name] = {"env": flags.get("--set-env-vars", {}), "secrets": flags.get("--set-secrets", {}),
                                                  "public": "--allow-unauthenticated" in flags}
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
