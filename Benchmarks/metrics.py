#!/usr/bin/env python3
"""metrics scrape benchmark (issue: metrics and observability).

Usage: python3 Benchmarks/metrics.py [--no-build] [--scrapes 50]

Median latency of GET / on `functions serve` (metrics) over N sequential scrapes of each of two servers on one
cluster: one over an empty database, one over a database with 1,000,000 webhook deliveries and 1,000,000 alerts
(with their sends), 1,000 of each still pending, seeded and CHECKPOINTed before measuring. The scrapes alternate
between the two servers in rounds (--rounds), so both medians see the same moments of this shared machine.
Limits: median <= 20 ms with the large tables, and within 20% of the empty-table median.
"""
import argparse, os, statistics, subprocess, sys, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def scrape_median(port, count):
    samples, body = scrape_samples(port, count, keep_body=True)
    return statistics.median(samples), body


def scrape_samples(port, count, keep_body=False):
    samples, body = [], b""
    for _ in range(count):
        start = time.perf_counter()
        status, body = benchlib.http(port, "GET", "/")
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, status
    return (samples, body) if keep_body else samples


def seed(cluster):
    endpoint, message = str(uuid.uuid4()), str(uuid.uuid4())
    cluster.psql(f"""
        INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES ('{endpoint}', 'https://example.org/hook', '{{a.*}}', 's');
        INSERT INTO webhook_messages (id, event_type, payload, response, created_at) VALUES ('{message}', 'a.b', '\\x7b7d', '{{}}', now());
        INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, attempts, next_attempt_at, created_at, finished_at)
          SELECT gen_random_uuid(), '{message}', '{endpoint}', CASE WHEN g <= 1000 THEN 'pending' ELSE 'succeeded' END, 1,
                 now() - interval '1 minute', now(), now() FROM generate_series(1, 1000000) g;
        INSERT INTO alerts (id, alert_type, severity, subject, message, recipients, created_at)
          SELECT gen_random_uuid(), 'bench', 'info', 'subject', '\\x6d', '{{a@b.co}}', now() FROM generate_series(1, 1000000);
        INSERT INTO alert_sends (id, alert_id, channel, status, attempts, next_attempt_at, created_at)
          SELECT gen_random_uuid(), id, 'email', CASE WHEN row_number() OVER () <= 1000 THEN 'pending' ELSE 'sent' END, 1,
                 now() - interval '1 minute', now() FROM alerts;""", "bench")
    cluster.psql("VACUUM ANALYZE", "bench")
    # Let the two million inserts reach disk before measuring: the scrape is measured against large tables, not
    # against the checkpoint that writing them set off.
    cluster.psql("CHECKPOINT", "bench")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10, help="alternations between the two servers")
    args = parser.parse_args()
    cluster = benchlib.migrated_cluster(args.no_build)
    try:
        # Two databases in one cluster, one left empty and one seeded, each with its own metrics server; the
        # scrapes alternate between them in rounds, so both medians see the same moments of this shared machine.
        cluster.psql("CREATE DATABASE bench_empty")
        empty_url = cluster.url.replace("/bench?", "/bench_empty?")
        subprocess.run([os.path.join(benchlib.BIN, "functions"), "migrate"], check=True, capture_output=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": empty_url})
        seed(cluster)
        cluster.psql("CHECKPOINT", "bench")
        secret = {"SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key"}
        empty_proc, empty_port = benchlib.serve({"DATABASE_URL": empty_url, **secret}, "metrics")
        full_proc, full_port = benchlib.serve({"DATABASE_URL": cluster.url, **secret}, "metrics")
        try:
            scrape_median(empty_port, 5)
            scrape_median(full_port, 5)
            per_round = max(1, args.scrapes // args.rounds)
            empty_samples, full_samples = [], []
            for _ in range(args.rounds):
                empty_samples += scrape_samples(empty_port, per_round)
                full_samples += scrape_samples(full_port, per_round)
            empty, full = statistics.median(empty_samples), statistics.median(full_samples)
            _, body = scrape_median(full_port, 1)
        finally:
            benchlib.stop(empty_proc)
            benchlib.stop(full_proc)
    finally:
        cluster.stop()
    ratio = full / empty
    scrapes = per_round * args.rounds
    rows = [
        (f"scrape median, empty tables ({scrapes} scrapes)", f"{empty:.2f} ms", "reference", "", True),
        ("scrape median, 1,000,000 deliveries and 1,000,000 alerts", f"{full:.2f} ms", "≤ 20 ms and within 20% of empty",
         f"{full / 20:.2f}× of 20 ms; {ratio:.2f}× of empty", full <= 20 and ratio <= 1.2),
    ]
    passed = benchlib.print_table(rows)
    due = [line for line in body.decode().splitlines() if line.startswith(("webhook_deliveries_due", "alert_sends_due"))]
    print("\n" + "; ".join(due))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
