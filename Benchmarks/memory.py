#!/usr/bin/env python3
"""Memory under slow uploads (issue: login, refresh and every input; bounded memory for any traffic).

Usage: python3 Benchmarks/memory.py [--no-build] [--connections 80] [--functions login refresh ...]

For each function of functions.yaml: `functions serve` with that function's own settings from functions.yaml
(MAX_REQUEST_BODY_BYTES and the rest of its env), against a throwaway PostgreSQL. --connections (80, Cloud Run's
concurrency default) clients each open a request to the function's upload route with Content-Length at the
function's own body limit, then send all of it but the last byte slowly (64 KiB per client in turn, so every
upload is in flight at once) and hold. The process's peak resident memory (VmHWM) is read while all of them hold,
against the service's `memory` in functions.yaml. Then each client sends its last byte (the request completes,
with whatever answer: unsigned or unauthenticated, that is a 4xx) and one more request per client goes 1 byte over
the limit, which must be a 413 without the body being read.

Prints a Markdown table: function, body limit, idle RSS, peak RSS with every upload held, the service's memory,
and the peak as a share of it.
"""
import argparse, base64, os, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

ROUTES = {  # the route each function reads a body on
    "login": "/", "refresh": "/", "webhook-receive": "/partner", "webhook-dispatch": "/events", "send-alert": "/", "metrics": "/",
}
SECRET = "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key"
TOKEN = "benchmark-internal-token-0123456789abcdef"


def spec():
    sys.path.insert(0, benchlib.ROOT)
    import yaml  # PyYAML
    with open(os.path.join(benchlib.ROOT, "functions.yaml")) as f:
        return yaml.safe_load(f)


def mebibytes(text):
    text = str(text)
    if text.endswith("Gi"):
        return float(text[:-2]) * 1024
    if text.endswith("Mi"):
        return float(text[:-2])
    raise ValueError(text)


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measure(function, cluster, connections):
    env = dict(spec()["defaults"]["env"])
    env.update(function.get("env") or {})
    # Secret Manager values stand in as placeholders (no provider is called: every upload is refused or held).
    for name in list(spec()["defaults"].get("secrets") or {}) + list(function.get("secrets") or {}):
        env[name] = "placeholder"
    env.update({"DATABASE_URL": cluster.url, "SECRET_KEY": SECRET, "INTERNAL_API_TOKEN": TOKEN, "LOG_LEVEL": "error",
                "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()})
    limit = int(env["MAX_REQUEST_BODY_BYTES"])
    method = "GET" if function["name"] == "metrics" else "POST"
    proc, port = benchlib.serve({k: str(v) for k, v in env.items()}, function["name"])
    try:
        time.sleep(1)
        idle = status_kib(proc.pid, "VmRSS")
        head = (f"{method} {ROUTES[function['name']]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {limit}\r\n\r\n").encode()
        sockets = []
        for _ in range(connections):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(head)
            sockets.append(s)
        chunk = b"x" * 65536
        sent = [0] * connections
        while any(n < limit - 1 for n in sent):
            for i, s in enumerate(sockets):
                room = limit - 1 - sent[i]
                if room > 0:
                    piece = chunk[:min(room, len(chunk))]
                    s.sendall(piece)
                    sent[i] += len(piece)
            time.sleep(0.005)
        time.sleep(1.5)
        held = status_kib(proc.pid, "VmRSS")
        peak = status_kib(proc.pid, "VmHWM")
        answers = []
        for s in sockets:
            s.sendall(b"x")
        for s in sockets:
            s.settimeout(30)
            data = b""
            try:
                while b"\r\n" not in data:
                    more = s.recv(4096)
                    if not more:
                        break
                    data += more
            except OSError:
                pass
            answers.append(int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0)
            s.close()
        over = []
        for _ in range(min(connections, 8)):
            status, _ = benchlib.http(port, method, ROUTES[function["name"]], b"x" * (limit + 1), {"Content-Type": "application/json"})
            over.append(status)
        return {"limit": limit, "idle": idle / 1024, "held": held / 1024, "peak": peak / 1024,
                "memory": mebibytes(function["memory"]), "answers": sorted(set(answers)), "over": sorted(set(over))}
    finally:
        benchlib.stop(proc)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--connections", type=int, default=80)
    parser.add_argument("--functions", nargs="*")
    args = parser.parse_args()
    cluster = benchlib.migrated_cluster(args.no_build)
    rows = []
    try:
        for function in spec()["functions"]:
            if args.functions and function["name"] not in args.functions:
                continue
            rows.append((function["name"], measure(function, cluster, args.connections)))
    finally:
        cluster.stop()
    print(f"| function ({args.connections} uploads held at the body limit) | body limit | idle RSS | peak RSS (VmHWM) | service memory | peak / memory | answers | 1 byte over |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for name, r in rows:
        share = r["peak"] / r["memory"]
        ok = ok and share < 1 and r["over"] == [413]
        print(f"| {name} | {r['limit']:,} B | {r['idle']:.0f} MiB | {r['peak']:.0f} MiB | {r['memory']:.0f} MiB | {share:.0%} | "
              f"{', '.join(map(str, r['answers']))} | {', '.join(map(str, r['over']))} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
