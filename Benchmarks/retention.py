#!/usr/bin/env python3
"""The retention purge (`functions maintain`) beside traffic (issue: data lifecycle).

Usage: python3 Benchmarks/retention.py [--no-build] [--finished 10000000] [--expired 250000] [--deliveries 5000] [--rounds 3]

Seeds --finished deliveries that finished yesterday (kept) and, before each purge, --expired published messages
that finished 40 days ago, each with one delivery and two attempts (4 rows each: 1,000,000 rows by default).
Then, alternating --rounds times:
  alone:  --deliveries pending deliveries to a healthy endpoint (shim-benchmark sink), drained by POST /drain on
          `functions serve` (webhook-dispatch); rate = deliveries over the span of their attempts (webhook_attempts).
  purge:  the same drain while `functions maintain` purges the expired rows; metrics scrapes (`functions serve`,
          metrics) sampled throughout.
Limits: purge >= 20,000 rows/s (rows removed over the run's own seconds, as `maintain` reports them); the drain's
rate during a purge >= 80 % of its rate alone (median of rounds); scrape median < 20 ms with the finished
deliveries in place (before and during the purge).
"""
import argparse, os, re, statistics, subprocess, sys, threading, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SECRET = "whsec_YmVuY2htYXJrLXdlYmhvb2stc2VjcmV0LTMyYnl0ZXM="
ENV = {"SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}


def endpoint(cluster, url, enabled=True):
    identifier = str(uuid.uuid4())
    cluster.psql(f"INSERT INTO webhook_endpoints (id, url, event_types, secret, enabled) "
                 f"VALUES ('{identifier}', '{url}', '{{lab.*}}', '{SECRET}', {str(enabled).lower()})", "bench")
    return identifier


def seed_finished(cluster, count, target):
    """`count` deliveries that finished yesterday, spread over 10,000 messages, to a disabled endpoint."""
    started = time.time()
    cluster.psql("INSERT INTO webhook_messages (id, event_type, payload, response, created_at) "
                 "SELECT gen_random_uuid(), 'lab.kept', '\\x7b7d', '{}', now() - interval '1 day' FROM generate_series(1, 10000)", "bench")
    for offset in range(0, count, 1_000_000):
        size = min(1_000_000, count - offset)
        cluster.psql(
            "WITH ms AS (SELECT array_agg(id) AS ids FROM webhook_messages WHERE event_type = 'lab.kept') "
            "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at) "
            f"SELECT gen_random_uuid(), ms.ids[1 + n % 10000], '{target}', 'succeeded', 1, now() - interval '1 day', now() - interval '1 day', "
            f"now() - interval '1 day' FROM generate_series(1, {size}) n, ms", "bench")
        print(f"seeded {offset + size:,} finished deliveries ({time.time() - started:.0f} s)", file=sys.stderr)


def seed_expired(cluster, messages, target):
    """`messages` published messages finished 40 days ago, each with one delivery and two attempts."""
    cluster.psql(f"""
        WITH m AS (
            INSERT INTO webhook_messages (id, event_type, payload, response, created_at)
            SELECT gen_random_uuid(), 'lab.old', '\\x7b7d', '{{}}', now() - interval '40 days' FROM generate_series(1, {messages})
            RETURNING id
        ), d AS (
            INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at)
            SELECT gen_random_uuid(), id, '{target}', 'failed', 2, now() - interval '40 days', now() - interval '40 days',
                now() - interval '39 days' FROM m
            RETURNING id
        )
        INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code)
        SELECT d.id, n, now() - interval '40 days', 5, 500 FROM d, generate_series(1, 2) n""", "bench")
    for table in ("webhook_messages", "webhook_deliveries", "webhook_attempts"):
        cluster.psql(f"VACUUM ANALYZE {table}", "bench")


def drain_rate(cluster, port, sink_port, count):
    """Seeds `count` pending deliveries to a new healthy endpoint, drains them, and returns their rate."""
    healthy = endpoint(cluster, f"http://127.0.0.1:{sink_port}/in")
    cluster.psql("INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at) "
                 f"SELECT gen_random_uuid(), (SELECT id FROM webhook_messages WHERE event_type = 'lab.kept' LIMIT 1), '{healthy}', "
                 f"'pending', now(), now() FROM generate_series(1, {count})", "bench")
    while True:
        status, body = benchlib.http(port, "POST", "/drain", b"", timeout=600)
        assert status == 200, (status, body)
        if cluster.psql(f"SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = '{healthy}' AND status = 'pending'", "bench").strip() == "0":
            break
    out = cluster.psql(
        "SELECT count(*), extract(epoch FROM max(a.started_at + a.duration_ms * interval '1 millisecond') - min(a.started_at)) "
        f"FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.endpoint_id = '{healthy}' AND a.status_code = 200",
        "bench")
    cluster.psql(f"UPDATE webhook_endpoints SET enabled = false WHERE id = '{healthy}'", "bench")
    done, span = out.strip().split("|")
    assert int(done) == count, (done, count)
    return int(done) / max(float(span), 1e-6)


def scrape(port):
    started = time.perf_counter()
    status, _ = benchlib.http(port, "GET", "/")
    assert status == 200, status
    return (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--finished", type=int, default=10_000_000)
    parser.add_argument("--expired", type=int, default=250_000, help="expired messages per purge (4 rows each)")
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cluster = benchlib.migrated_cluster(args.no_build)
    sink_port = benchlib.free_port()
    sink = subprocess.Popen([os.path.join(benchlib.BIN, "shim-benchmark"), "sink", str(sink_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dispatch = metrics = None
    alone, during, purge_rates, scrapes_before, scrapes_during = [], [], [], [], []
    try:
        benchlib.wait_http(sink_port, "/")
        parked = endpoint(cluster, "https://example.com/parked", enabled=False)
        seed_finished(cluster, args.finished, parked)
        cluster.psql("VACUUM ANALYZE", "bench")
        env = {"DATABASE_URL": cluster.url, "DB_POOL_SIZE": "16", **ENV}
        dispatch, port = benchlib.serve(env, "webhook-dispatch")
        metrics, metrics_port = benchlib.serve(env, "metrics")
        drain_rate(cluster, port, sink_port, 500)  # warm-up
        for _ in range(5):
            scrape(metrics_port)
        scrapes_before = [scrape(metrics_port) for _ in range(50)]
        for index in range(args.rounds):
            seed_expired(cluster, args.expired, parked)
            for case in (("alone", "purge") if index % 2 == 0 else ("purge", "alone")):
                if case == "alone":
                    alone.append(drain_rate(cluster, port, sink_port, args.deliveries))
                    continue
                maintain = subprocess.Popen([os.path.join(benchlib.BIN, "functions"), "maintain"],
                                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": cluster.url},
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                stop = threading.Event()

                def sample():
                    while not stop.is_set():
                        scrapes_during.append(scrape(metrics_port))
                        time.sleep(0.05)

                sampler = threading.Thread(target=sample)
                sampler.start()
                time.sleep(1)  # the purge under way before the drain starts
                during.append(drain_rate(cluster, port, sink_port, args.deliveries))
                out, _ = maintain.communicate(timeout=3600)
                stop.set()
                sampler.join()
                assert maintain.returncode == 0, out
                rows, seconds = re.search(r"^(\d+) rows in ([\d.]+) s$", out, re.M).groups()
                removed = int(rows)
                assert removed >= args.expired * 4, out
                purge_rates.append(removed / float(seconds))
            print(f"round {index + 1}: drain alone {alone[-1]:,.0f}/s, during the purge {during[-1]:,.0f}/s; "
                  f"purge {purge_rates[-1]:,.0f} rows/s", file=sys.stderr)
    finally:
        for proc in (dispatch, metrics, sink):
            if proc:
                benchlib.stop(proc)
        cluster.stop()
    purge = statistics.median(purge_rates)
    ratio = statistics.median(d / a for d, a in zip(during, alone))
    before, while_purging = statistics.median(scrapes_before), statistics.median(scrapes_during)
    p99 = sorted(scrapes_during)[int(len(scrapes_during) * 0.99) - 1] if scrapes_during else float("nan")
    rows = [
        (f"purge rate ({args.expired * 4:,} rows per run, median of {args.rounds})", f"{purge:,.0f} rows/s", "≥ 20,000 rows/s",
         f"{purge / 20000:.2f}× of limit", purge >= 20000),
        (f"drain during a purge / alone ({args.deliveries:,} deliveries, median ratio)",
         f"{statistics.median(during):,.0f}/s vs {statistics.median(alone):,.0f}/s", "≥ 80 %", f"{ratio:.0%}", ratio >= 0.8),
        (f"scrape median, {args.finished:,} finished deliveries, before the purge", f"{before:.2f} ms", "< 20 ms", f"{before / 20:.2f}× of limit",
         before < 20),
        (f"scrape median during purges ({len(scrapes_during)} scrapes; p99 {p99:.1f} ms)", f"{while_purging:.2f} ms", "< 20 ms",
         f"{while_purging / 20:.2f}× of limit", while_purging < 20),
    ]
    return 0 if benchlib.print_table(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
