#!/usr/bin/env python3
"""send-alert benchmark (issue: send-alert).

Usage: python3 Benchmarks/alerts.py [--no-build] [--seconds 10]

Accepting an alert with the console backend: wrk -t2 -c16 POSTing a new alert per request (no idempotency
key) to `functions serve` (send-alert, EMAIL_BACKEND=console, output to /dev/null); limits >= 2,000 req/s
and p99 < 20 ms.
"""
import argparse, os, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

BODY = ('{"alert_type":"drift_detected","severity":"warning","subject":"Drift on ward 3",'
        '"message":"Values moved beyond the control limits.","recipients":["oncall@example.com"]}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    cluster = benchlib.migrated_cluster(args.no_build)
    try:
        env = {"DATABASE_URL": cluster.url, "DB_POOL_SIZE": "16", "EMAIL_BACKEND": "console",
               "SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key"}
        proc, port = benchlib.serve(env, "send-alert")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            body = BODY.replace('"', '\\"')
            f.write(f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n')
            script = f.name
        try:
            result = benchlib.wrk(f"http://127.0.0.1:{port}/", args.seconds, 16, threads=2, script=script)
        finally:
            benchlib.stop(proc)
            os.unlink(script)
    finally:
        cluster.stop()
    rows = [
        (f"send-alert accept, console backend, wrk -t2 -c16 -d{args.seconds}s", f"{result['rps']:,.0f} req/s", "≥ 2,000 req/s",
         f"{result['rps'] / 2000:.2f}× of limit", result["rps"] >= 2000 and result["non2xx"] == 0),
        ("send-alert p99", f"{result.get('p99_ms', 99):.2f} ms", "< 20 ms", f"{result.get('p99_ms', 99) / 20:.2f}× of limit",
         result.get("p99_ms", 99) < 20),
    ]
    passed = benchlib.print_table(rows)
    print(f"\nnon-2xx responses: {result['non2xx']}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
