#!/usr/bin/env python3
"""Outgoing webhooks under first attempts and a hostile partner (issue: outbound effects exactly once).

Usage: python3 Benchmarks/delivery.py [--no-build] [--rate 500] [--seconds 10] [--rounds 3] [--only latency|receive|trickle]

latency: `functions serve` (webhook-dispatch, first attempts on by default) and a recording sink (a Python HTTP/1.1
         server that notes when each webhook-id arrives). Events are published at --rate per second for --seconds
         (64 threads on keep-alive connections, each event stamped with its send time; the sink is its own process); the time from sending
         `POST /events` to the sink receiving the webhook is publish -> delivered. Limit: p50 < 50 ms, p99 < 500 ms,
         every event delivered exactly once, the rate reached. No drain runs.
receive: the same for received events and a consumer: `functions serve` (webhook-receive, first attempts on by
         default), an hmac-sha256 source and one consumer of it (the recording sink); signed events are posted at
         --rate per second; the time from sending `POST /<source>` to the consumer receiving the forwarded event is
         receive -> consumer. Same limits.
trickle: one healthy endpoint (shim-benchmark sink, 200 at once) with --deliveries due, alone, then the same with 200
         more due to an endpoint that answers its head at once and then its body at 1 byte/s (WEBHOOK_TIMEOUT_SECONDS
         5); alternated --rounds times. The healthy endpoint's rate is its deliveries over the span of their attempts
         as recorded in webhook_attempts (first start to last end). Limit: with the trickling endpoint, within 10 %
         of the rate without it (median ratio).
"""
import argparse, base64, hashlib, hmac, http.client, json, os, statistics, subprocess, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SECRET = "whsec_" + base64.b64encode(b"benchmark-webhook-secret-32bytes").decode()
ENV = {"SECRET_KEY": "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}


class Recorder(BaseHTTPRequestHandler):
    """Notes (webhook-id, arrival time, the event's send time) and answers 200 at once."""
    protocol_version = "HTTP/1.1"
    seen = []
    lock = threading.Lock()

    def do_GET(self):  # readiness
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        arrived = time.time()
        sent = json.loads(body)["data"]["sent"]
        with Recorder.lock:
            Recorder.seen.append((self.headers.get("webhook-id"), arrived, sent))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Trickler(BaseHTTPRequestHandler):
    """Answers 200 with a 100-byte body, one byte a second."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(1)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def start(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def add_endpoint(cluster, url, database="bench"):
    endpoint = str(uuid.uuid4())
    cluster.psql(f"INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES ('{endpoint}', '{url}', '{{lab.*}}', '{SECRET}')",
                 database)
    return endpoint


def recording_sink(port, out):
    """Runs the recording sink in this process (started as its own process, so the publisher's threads do not share
    its interpreter lock) until SIGTERM, then writes what it saw to `out` as JSON."""
    import signal
    server = ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    server.daemon_threads = True

    def stop(*_):
        with open(out, "w") as f:
            json.dump(Recorder.seen, f)
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


SOURCE_SECRET = "benchmark-source-shared-secret"


def send_event(connection, kind, i):
    """One publish (`POST /events`) or one signed receive (`POST /bench`), stamped with its send time."""
    if kind == "publish":
        body = json.dumps({"type": "lab.result", "data": {"n": i, "sent": time.time()}})
        connection.request("POST", "/events", body, {"Content-Type": "application/json"})
    else:
        body = json.dumps({"type": "lab.result", "id": f"evt-{i}-{uuid.uuid4()}", "sent": time.time()}).encode()
        signature = hmac.new(SOURCE_SECRET.encode(), body, hashlib.sha256).hexdigest()
        connection.request("POST", "/bench", body, {"Content-Type": "application/json", "X-Signature": signature})
    response = connection.getresponse()
    response.read()
    return response.status


def bench_latency(cluster, rate, seconds, results, kind="publish"):
    sink_port, out = benchlib.free_port(), f"/tmp/functions-bench-sink-{os.getpid()}.json"
    sink = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink", str(sink_port), out])
    benchlib.wait_http(sink_port, "/")
    if kind == "publish":
        add_endpoint(cluster, f"http://127.0.0.1:{sink_port}/in")
    else:
        cluster.psql(f"INSERT INTO webhook_sources (slug, scheme, secret) VALUES ('bench', 'hmac-sha256', '{SOURCE_SECRET}')", "bench")
        cluster.psql(f"INSERT INTO webhook_endpoints (id, url, event_types, secret, source_id) SELECT '{uuid.uuid4()}', "
                     f"'http://127.0.0.1:{sink_port}/in', '{{lab.*}}', '{SECRET}', id FROM webhook_sources WHERE slug = 'bench'", "bench")
    target = "webhook-dispatch" if kind == "publish" else "webhook-receive"
    proc, port = benchlib.serve({"DATABASE_URL": cluster.url, "DB_POOL_SIZE": "16", **ENV}, target)
    total, threads = rate * seconds, 64
    statuses, lock = [], threading.Lock()
    try:
        def publisher(k, start_at):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            for i in range(k, total, threads):
                delay = start_at + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                mine.append(send_event(connection, kind, i))
            with lock:
                statuses.extend(mine)
        # Warm-up: connections and prepared statements, not measured.
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(50):
            send_event(warm, kind, -1 - i)
        time.sleep(1)
        warmed = time.time()
        start_at = time.time() + 0.2
        workers = [threading.Thread(target=publisher, args=(k, start_at)) for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.time() - start_at
        time.sleep(2)  # stragglers
    finally:
        benchlib.stop(proc)
        sink.terminate()
        sink.wait(timeout=30)
    with open(out) as f:
        seen = [entry for entry in json.load(f) if entry[2] >= warmed]
    os.remove(out)
    latencies = sorted((arrived - sent) * 1000 for _, arrived, sent in seen)
    ids = [webhook_id for webhook_id, _, _ in seen]
    results["latency" if kind == "publish" else "receive"] = {
        "p50": statistics.median(latencies), "p99": latencies[int(len(latencies) * 0.99) - 1], "delivered": len(seen),
        "unique": len(set(ids)), "published": total, "accepted": sum(1 for s in statuses if s == 202), "rate": total / elapsed,
    }


def healthy_rate(cluster, endpoint, database):
    out = cluster.psql(
        "SELECT count(*), extract(epoch FROM max(a.started_at + a.duration_ms * interval '1 millisecond') - min(a.started_at)) "
        f"FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.endpoint_id = '{endpoint}' AND a.status_code = 200",
        database)
    count, span = out.strip().split("|")
    return int(count) / max(float(span), 1e-6)


def bench_trickle(cluster, deliveries, rounds, results):
    sink_port = benchlib.free_port()
    sink = subprocess.Popen([os.path.join(benchlib.BIN, "shim-benchmark"), "sink", str(sink_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trickler, trickle_port = start(Trickler)
    env = {"DATABASE_URL": cluster.url, "DB_POOL_SIZE": "32", "WEBHOOK_TIMEOUT_SECONDS": "5", "WEBHOOK_DRAIN_BUDGET_SECONDS": "20", **ENV}
    proc, port = benchlib.serve(env, "webhook-dispatch")
    rates = {"alone": [], "trickling": []}
    try:
        benchlib.wait_http(sink_port, "/")
        message = str(uuid.uuid4())
        cluster.psql(f"INSERT INTO webhook_messages (id, event_type, payload, response, created_at) VALUES "
                     f"('{message}', 'lab.result', convert_to('{{}}', 'UTF8'), '{{}}', now())", "bench")

        def seed(endpoint, count):
            cluster.psql(f"INSERT INTO webhook_deliveries (id, message_id, endpoint_id, status, next_attempt_at, created_at) "
                         f"SELECT gen_random_uuid(), '{message}', '{endpoint}', 'pending', now(), now() FROM generate_series(1, {count})", "bench")

        warm = add_endpoint(cluster, f"http://127.0.0.1:{sink_port}/in")
        seed(warm, 2000)
        benchlib.http(port, "POST", "/drain", b"", timeout=600)
        cluster.psql("UPDATE webhook_endpoints SET enabled = false", "bench")
        for index in range(rounds):
            for case in (("alone", "trickling") if index % 2 == 0 else ("trickling", "alone")):
                healthy = add_endpoint(cluster, f"http://127.0.0.1:{sink_port}/in")
                seed(healthy, deliveries)
                if case == "trickling":
                    slow = add_endpoint(cluster, f"http://127.0.0.1:{trickle_port}/slow")
                    seed(slow, 200)
                cluster.psql("ANALYZE webhook_deliveries", "bench")
                status, body = benchlib.http(port, "POST", "/drain", b"", timeout=600)
                assert status == 200, (status, body)
                rates[case].append(healthy_rate(cluster, healthy, "bench"))
                cluster.psql("UPDATE webhook_endpoints SET enabled = false", "bench")  # this round's endpoints are done
            print(f"round {index + 1}: healthy endpoint alone {rates['alone'][-1]:,.0f}/s, "
                  f"beside a trickling one {rates['trickling'][-1]:,.0f}/s", file=sys.stderr)
    finally:
        benchlib.stop(proc)
        benchlib.stop(sink)
        trickler.shutdown()
    results["trickle"] = rates


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--sink":
        recording_sink(int(sys.argv[2]), sys.argv[3])
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["latency", "receive", "trickle"])
    args = parser.parse_args()
    cluster = benchlib.migrated_cluster(args.no_build)
    results = {}
    try:
        if args.only in (None, "latency"):
            bench_latency(cluster, args.rate, args.seconds, results)
        if args.only in (None, "receive"):
            bench_latency(cluster, args.rate, args.seconds, results, kind="receive")
        if args.only in (None, "trickle"):
            bench_trickle(cluster, args.deliveries, args.rounds, results)
    finally:
        cluster.stop()
    rows = []

    def latency_rows(r, what, once_label):
        """p50, p99 and exactly-once rows for one latency run (`what` names the span measured)."""
        once = r["delivered"] == r["unique"] == r["published"] == r["accepted"]
        return [
            (f"{what} p50, {args.rate} events/s for {args.seconds} s (reached {r['rate']:,.0f}/s)", f"{r['p50']:.1f} ms", "< 50 ms",
             f"{r['p50'] / 50:.2f}× of limit", r["p50"] < 50 and r["rate"] >= args.rate * 0.95),
            (f"{what} p99", f"{r['p99']:.1f} ms", "< 500 ms", f"{r['p99'] / 500:.2f}× of limit", r["p99"] < 500),
            (once_label, f"{r['unique']:,} of {r['published']:,} ({r['delivered']:,} requests)", "each once", "", once),
        ]
    if "latency" in results:
        rows += latency_rows(results["latency"], "publish -> delivered", "delivered exactly once")
    if "receive" in results:
        rows += latency_rows(results["receive"], "receive -> consumer", "forwarded exactly once")
    if "trickle" in results:
        rates = results["trickle"]
        alone, beside = statistics.median(rates["alone"]), statistics.median(rates["trickling"])
        ratio = statistics.median(t / a for t, a in zip(rates["trickling"], rates["alone"]))
        rows.append((f"healthy endpoint's drain rate beside one trickling at 1 byte/s (median of {args.rounds})", f"{beside:,.0f} deliveries/s",
                     f"within 10% of alone ({alone:,.0f}/s)", f"{ratio:.0%}", ratio >= 0.9))
    passed = benchlib.print_table(rows)
    if "trickle" in results:
        print("trickle rounds (alone, beside): " + "; ".join(f"{a:,.0f}, {t:,.0f}" for a, t in zip(results["trickle"]["alone"], results["trickle"]["trickling"])))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
