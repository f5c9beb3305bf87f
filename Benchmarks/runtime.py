#!/usr/bin/env python3
"""Runtime benchmarks (issue: the package, the runtime shim): cold start, shim overhead, idle memory.

Usage: python3 Benchmarks/runtime.py [--no-build] [--rounds N]

Builds the release binaries (static Swift standard library, as the Dockerfile does), then measures:
  1. cold start: exec of `functions serve` to the first 200 on /health, 20 starts, median (limit 50 ms)
  2. shim overhead: wrk -t2 -c32 -d10s against a bare Hummingbird "hello" and a no-op function through
     the shim, alternating, N rounds each, medians and their ratio (limit: shim >= 80% of bare)
  3. idle RSS of `functions serve` after start-up and one /health (limit 40 MB)
Every `functions serve` here runs against a throwaway PostgreSQL and opens its pool (10 connections) at start.
Needs wrk (apt-get install wrk). Prints a Markdown table for BENCHMARKS.md.
"""
import argparse, os, re, signal, socket, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path="/health"):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


FUNCTIONS = ["login", "refresh", "webhook-receive", "webhook-dispatch", "send-alert", "metrics"]


DATABASE_URL = None  # a real, migrated throwaway cluster's (set in main)


def serve_env(port, target="metrics"):
    # A real database: a serving instance opens its pool's connections at start-up (DB_POOL_MIN defaults to
    # DB_POOL_SIZE), so start-up time and idle memory include them. /health itself does no I/O.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOST": "127.0.0.1",
           "FUNCTION_TARGET": target, "LOG_LEVEL": "warning", "DATABASE_URL": DATABASE_URL,
           "SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key"}
    return env


def cold_start(runs, target="metrics"):
    samples = []
    for _ in range(runs):
        port = free_port()
        start = time.perf_counter()
        proc = subprocess.Popen([os.path.join(BIN, "functions"), "serve"], env=serve_env(port, target),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                if http_get(port) == 200:
                    break
            except OSError:
                time.sleep(0.0005)
            if time.perf_counter() - start > 10:
                raise SystemExit("functions serve did not answer /health within 10 s")
        samples.append((time.perf_counter() - start) * 1000)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    return samples


def wait_ready(port, path="/"):
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            http_get(port, path)
            return
        except OSError:
            time.sleep(0.01)
    raise SystemExit("server did not start")


def wrk(mode, seconds):
    port = free_port()
    proc = subprocess.Popen([os.path.join(BIN, "shim-benchmark"), mode, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            raise SystemExit(f"{mode}: {non2xx.group(1)} non-2xx responses")
        return rps
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def idle_rss_mb(target="metrics"):
    port = free_port()
    proc = subprocess.Popen([os.path.join(BIN, "functions"), "serve"], env=serve_env(port, target),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, "/health")
        time.sleep(1)
        with open(f"/proc/{proc.pid}/status") as f:
            kb = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
        return kb / 1024
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not args.no_build:
        for product in ("functions", "shim-benchmark"):
            subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product], cwd=ROOT, check=True)

    global DATABASE_URL
    cluster = benchlib.migrated_cluster(True)
    try:
        DATABASE_URL = cluster.url
        return measure(args)
    finally:
        cluster.stop()


def measure(args):
    cold = cold_start(20)
    bare, shim = [], []
    for _ in range(args.rounds):
        bare.append(wrk("bare", args.seconds))
        shim.append(wrk("shim", args.seconds))
    rss = idle_rss_mb()

    cold_median = statistics.median(cold)
    ratio = statistics.median(shim) / statistics.median(bare)
    rows = [
        ("Cold start, exec to first 200 on /health (median of 20)", f"{cold_median:.1f} ms",
         "≤ 50 ms", f"{cold_median / 50:.2f}× of limit", cold_median <= 50),
        (f"Bare Hummingbird hello, wrk -t2 -c32 -d{args.seconds}s (median of {args.rounds})",
         f"{statistics.median(bare):,.0f} req/s", "reference", "", True),
        (f"No-op function through the shim, same wrk (median of {args.rounds})",
         f"{statistics.median(shim):,.0f} req/s", "≥ 80% of bare", f"{ratio:.0%} of bare", ratio >= 0.8),
        ("Idle RSS of functions serve", f"{rss:.1f} MB", "≤ 40 MB", f"{rss / 40:.2f}× of limit", rss <= 40),
    ]
    print("| measure | result | limit | ratio | ok |\n|---|---|---|---|---|")
    for name, value, limit, ratio_text, ok in rows:
        print(f"| {name} | {value} | {limit} | {ratio_text} | {'yes' if ok else 'NO'} |")
    print(f"\ncold start samples (ms): {', '.join(f'{s:.1f}' for s in sorted(cold))}")
    print("\n| function (FUNCTION_TARGET) | cold start, median of 10 | idle RSS |\n|---|---|---|")
    for target in FUNCTIONS:
        print(f"| {target} | {statistics.median(cold_start(10, target)):.1f} ms | {idle_rss_mb(target):.1f} MB |")
    print(f"bare req/s: {', '.join(f'{r:,.0f}' for r in bare)}; shim req/s: {', '.join(f'{r:,.0f}' for r in shim)}")
    return 0 if all(row[4] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
