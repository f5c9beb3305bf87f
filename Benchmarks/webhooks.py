#!/usr/bin/env python3
"""webhook-receive and webhook-dispatch benchmarks (issue: webhooks).

Usage: python3 Benchmarks/webhooks.py [--no-build] [--seconds 10] [--deliveries 20000] [--only receive|dispatch]

receive:  wrk -t2 -c16 with a fresh signed message per request (Benchmarks/receive.lua) against
          `functions serve` (webhook-receive); limit p99 < 20 ms and >= 50% of pgbench -c16 -M extended
          inserting the same row (Benchmarks/receive.pgbench), same run: three rounds (--rounds) alternate a receive
          run with a pgbench run; the table holds the medians and their ratio, and every round is printed.
dispatch: POST /drain over N pending deliveries to a local sink answering 200 at once (shim-benchmark sink);
          limit >= 1,500 deliveries/s and >= 50% of the sink's own capacity measured with wrk -t2 -c16 in the
          same run; and a second dispatcher over a database whose table holds 1,000,000 finished deliveries:
          within 20% of the first rate. Drains alternate between the two (and with the sink's wrk run) in rounds.
"""
import argparse, base64, hashlib, hmac, os, statistics, subprocess, sys, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"benchmark-webhook-secret-32bytes").decode()
BODY = '{"type":"lab.result","data":{"value":42,"unit":"mg/dL"}}'
ENV = {"SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key"}


def sign(message_id, timestamp):
    key = base64.b64decode(SECRET[6:])
    mac = hmac.new(key, f"{message_id}.{timestamp}.{BODY}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def bench_receive(cluster, seconds, results, rounds=3):
    """Alternates `rounds` receive runs (wrk) with `rounds` pgbench runs of the same INSERT on one cluster and one
    server, so both sides of the ratio see the same neighbours; the medians and their ratio are what count."""
    cluster.psql("INSERT INTO webhook_sources (slug, scheme, secret) VALUES ('lab', 'standard', '" + SECRET + "')", "bench")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "receive.pgbench")
    per_round = 15_000 * seconds  # more than the fastest run ever sends
    proc, port = benchlib.serve({"DATABASE_URL": cluster.url, "DB_POOL_SIZE": "16", **ENV}, "webhook-receive")

    def signed(index):  # signed when its round starts, well inside the receiver's timestamp tolerance
        now = int(time.time())
        return (f"msg_{i}\t{now}\t{sign(f'msg_{i}', now)}" for i in range(index * per_round, (index + 1) * per_round))

    try:
        os.environ.update({"WRK_THREADS": "2", "BODY": BODY, "PATH_PREFIX": "/lab"})
        results["receive"], tps_runs = benchlib.alternate_with_pgbench(
            "receive", f"http://127.0.0.1:{port}/lab", cluster, script, seconds, rounds,
            lua=os.path.join(os.path.dirname(os.path.abspath(__file__)), "receive.lua"), file_variable="SIGNED",
            lines=signed, pgbench_mode="extended")
    finally:
        benchlib.stop(proc)
    results["receive_pgbench"] = statistics.median(tps_runs)
    results["receive_pgbench_runs"] = tps_runs


def seed_deliveries(cluster, endpoint, count, status="pending", database="bench"):
    message = str(uuid.uuid4())
    cluster.psql(f"INSERT INTO webhook_messages (id, event_type, payload, response, created_at) VALUES "
                 f"('{message}', 'lab.result', convert_to('{BODY}', 'UTF8'), '{{}}', now())", database)
    finished = "now()" if status != "pending" else "NULL"
    cluster.psql(f"INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at) "
                 f"SELECT gen_random_uuid(), '{message}', '{endpoint}', '{status}', {1 if status != 'pending' else 0}, now(), now(), {finished} "
                 f"FROM generate_series(1, {count})", database)


def drain_rate(port, count):
    start = time.perf_counter()
    status, body = benchlib.http(port, "POST", "/drain", b"", timeout=600)
    elapsed = time.perf_counter() - start
    assert status == 200, (status, body)
    import json
    report = json.loads(body)
    assert report["succeeded"] == count, report
    return count / elapsed


def bench_dispatch(cluster, seconds, count, results, rounds=3):
    """Two databases in one cluster, one whose table holds 1,000,000 finished deliveries and one without them,
    each with its own dispatcher; drains of `count` deliveries alternate between the two in rounds (after a
    warm-up drain on each), so both rates see the same moments of this shared machine. The sink's capacity is
    measured with wrk in each round too. Medians count."""
    sink_port = benchlib.free_port()
    sink = subprocess.Popen([os.path.join(benchlib.BIN, "shim-benchmark"), "sink", str(sink_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = []
    try:
        benchlib.wait_http(sink_port, "/")
        cluster.psql("CREATE DATABASE bench_empty")
        empty_url = cluster.url.replace("/bench?", "/bench_empty?")
        subprocess.run([os.path.join(benchlib.BIN, "functions"), "migrate"], check=True, capture_output=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": empty_url})
        endpoint = str(uuid.uuid4())
        for database in ("bench", "bench_empty"):
            cluster.psql(f"INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES "
                         f"('{endpoint}', 'http://127.0.0.1:{sink_port}/in', '{{lab.*}}', '{SECRET}')", database)
        seed_deliveries(cluster, endpoint, 1_000_000, status="succeeded")
        for database in ("bench", "bench_empty"):
            cluster.psql("VACUUM ANALYZE", database)
        cluster.psql("CHECKPOINT")
        env = {"DB_POOL_SIZE": "32", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_DRAIN_BUDGET_SECONDS": "600", **ENV}
        ports = {}
        for name, url in (("empty", empty_url), ("full", cluster.url)):
            proc, port = benchlib.serve({"DATABASE_URL": url, **env}, "webhook-dispatch")
            servers.append(proc)
            ports[name] = (port, "bench_empty" if name == "empty" else "bench")
        for name, (port, database) in ports.items():  # warm-up: connections, prepared statements
            seed_deliveries(cluster, endpoint, 2_000, database=database)
            drain_rate(port, 2_000)
        rates = {"empty": [], "full": []}
        sinks = []
        for index in range(rounds):
            sinks.append(benchlib.wrk(f"http://127.0.0.1:{sink_port}/", seconds, 16, threads=2)["rps"])
            for name, (port, database) in ports.items():
                seed_deliveries(cluster, endpoint, count, database=database)
                cluster.psql("ANALYZE webhook_deliveries", database)
                rates[name].append(drain_rate(port, count))
            print(f"round {index + 1}: sink {sinks[-1]:,.0f} req/s, drain {rates['empty'][-1]:,.0f} deliveries/s (empty), "
                  f"{rates['full'][-1]:,.0f} deliveries/s (1,000,000 finished)", file=sys.stderr)
        results["sink"] = statistics.median(sinks)
        results["drain_empty"] = statistics.median(rates["empty"])
        results["drain_full"] = statistics.median(rates["full"])
        results["dispatch_rounds"] = (sinks, rates)
    finally:
        for proc in servers:
            benchlib.stop(proc)
        benchlib.stop(sink)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--only", choices=["receive", "dispatch"])
    parser.add_argument("--rounds", type=int, default=3, help="alternations: receive with pgbench; empty-table drain with full-table drain and the sink's wrk")
    args = parser.parse_args()
    cluster = benchlib.migrated_cluster(args.no_build)
    results = {}
    try:
        if args.only != "dispatch":
            bench_receive(cluster, args.seconds, results, args.rounds)
        if args.only != "receive":
            bench_dispatch(cluster, args.seconds, args.deliveries, results, args.rounds)
    finally:
        cluster.stop()
    rows = []
    if "receive" in results:
        receive = results["receive"]
        ratio = receive["rps"] / results["receive_pgbench"]
        rows += [
        (f"receive, wrk -t2 -c16 -d{args.seconds}s, a new signed message per request (median of {args.rounds})", f"{receive['rps']:,.0f} req/s",
         f"≥ 50% of pgbench ({results['receive_pgbench']:,.0f} tps, same INSERT, -c16, median of {args.rounds} alternating)", f"{ratio:.0%}",
         ratio >= 0.5 and receive["non2xx"] == 0),
        ("receive p99", f"{receive.get('p99_ms', 99):.2f} ms", "< 20 ms", f"{receive.get('p99_ms', 99) / 20:.2f}× of limit",
         receive.get("p99_ms", 99) < 20),
        ]
    if "drain_empty" in results:
        drain_ratio = results["drain_empty"] / results["sink"]
        full_ratio = results["drain_full"] / results["drain_empty"]
        rows += [
        (f"dispatch: drain {args.deliveries:,} deliveries to a local sink (median of {args.rounds})", f"{results['drain_empty']:,.0f} deliveries/s",
         "≥ 1,500/s", f"{results['drain_empty'] / 1500:.2f}× of limit", results["drain_empty"] >= 1500),
        (f"sink capacity, wrk -t2 -c16 (median of {args.rounds}, alternating with the drains)", f"{results['sink']:,.0f} req/s", "dispatch ≥ 50% of it", f"{drain_ratio:.0%}",
         drain_ratio >= 0.5),
        (f"dispatch with 1,000,000 finished deliveries in the table (median of {args.rounds}, alternating)", f"{results['drain_full']:,.0f} deliveries/s",
         "within 20% of the empty-table rate", f"{full_ratio:.0%}", abs(1 - full_ratio) <= 0.2),
        ]
    passed = benchlib.print_table(rows)
    if "receive" in results:
        print(f"\nreceive non-2xx responses: {results['receive']['non2xx']}")
        print("receive/pgbench rounds: " + "; ".join(
            f"{run['rps']:,.0f} req/s vs {tps:,.0f} tps ({run['rps'] / tps:.0%})"
            for run, tps in zip(results["receive"]["runs"], results["receive_pgbench_runs"])))
    if "dispatch_rounds" in results:
        sinks, rates = results["dispatch_rounds"]
        print("dispatch rounds (sink req/s, empty-table drain, full-table drain): " + "; ".join(
            f"{sink:,.0f}, {empty:,.0f}, {full:,.0f}" for sink, empty, full in zip(sinks, rates["empty"], rates["full"])))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
