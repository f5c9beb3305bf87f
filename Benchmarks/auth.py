#!/usr/bin/env python3
"""login and refresh benchmarks (issue: login and refresh).

Usage: python3 Benchmarks/auth.py [--no-build] [--iterations 1200000] [--seconds 10] [--algorithm HS256|ES256]

Starts a throwaway PostgreSQL (fsync on), the release `functions serve`, and measures:
  login:   CPU seconds of the functions process per login (20 sequential logins) against the floor of one
           PBKDF2-HMAC-SHA256 at the same iteration count (Python's hashlib, OpenSSL), same run; limit 1.15x.
           Then the p99 of GET /health (wrk -t1 -c1 --latency) while 8 logins run concurrently; limit 10 ms.
  refresh: wrk -t2 -c16 with a fresh refresh token per request (Benchmarks/refresh.lua); limits 3,000 req/s
           and p99 < 20 ms; and >= 50% of what pgbench reaches at -c16 running the same SQL as one refresh
           (Benchmarks/refresh.pgbench, the same prepared statement, same run). Three rounds (--rounds) alternate a
           refresh run with a pgbench run on the same cluster, so both sides of the ratio see the same neighbours on
           this shared machine; the table holds the medians and the ratio of the medians, and every round is printed.
With --algorithm ES256 the server signs with a P-256 key (JWT_SIGNING_ALGORITHM=ES256) and the presented refresh
tokens are ES256 too (minted here with the same key and kid), so each refresh verifies one ES256 signature and makes
two; this needs Python's `cryptography` (pip install cryptography).
Needs wrk and pgbench (apt-get install wrk postgresql-contrib). Prints a Markdown table for BENCHMARKS.md.
"""
import argparse, base64, hashlib, hmac, json, os, statistics, subprocess, sys, threading, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SECRET = "benchmark-secret-key-benchmark-secret-key-benchmark-secret-key"
PASSWORD = "benchmark passphrase 2026"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


ES256 = {}  # with --algorithm ES256: {"key": private key, "pem": PEM text, "kid": RFC 7638 thumbprint}


def use_es256():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    x, y = b64(numbers.x.to_bytes(32, "big")), b64(numbers.y.to_bytes(32, "big"))
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'.encode()
    ES256.update(key=key, kid=b64(hashlib.sha256(canonical).digest()), pem=key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())


def mint(claims):
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    if ES256:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        header = b64(json.dumps({"alg": "ES256", "kid": ES256["kid"], "typ": "JWT"}, separators=(",", ":")).encode())
        r, s = decode_dss_signature(ES256["key"].sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256())))
        return f"{header}.{payload}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    signature = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def login_body(username):
    return json.dumps({"username": username, "password": PASSWORD}).encode()


def bench_login(cluster, iterations, results):
    env = {"DATABASE_URL": cluster.url, "SECRET_KEY": SECRET, "PASSWORD_HASH_ITERATIONS": str(iterations)}
    subprocess.run([os.path.join(benchlib.BIN, "functions"), "users", "create", "--username", "bench"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True,
                   env={"PATH": os.environ["PATH"], **env})
    proc, port = benchlib.serve(env, "login")
    try:
        headers = {"Content-Type": "application/json"}
        status, _ = benchlib.http(port, "POST", "/", login_body("bench"), headers)  # warm-up
        assert status == 200, status
        before = benchlib.cpu_seconds(proc.pid)
        count = 20
        for _ in range(count):
            status, _ = benchlib.http(port, "POST", "/", login_body("bench"), headers)
            assert status == 200, status
        per_login = (benchlib.cpu_seconds(proc.pid) - before) / count
        floors = []
        for _ in range(5):
            start = time.process_time()
            hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), b"abcdefghijklmnopqrstuv", iterations, 32)
            floors.append(time.process_time() - start)
        floor = statistics.median(floors)
        results["login_cpu"] = (per_login, floor)

        stop_flag = threading.Event()
        def hammer():
            while not stop_flag.is_set():
                benchlib.http(port, "POST", "/", login_body("bench"), headers, timeout=120)
        workers = [threading.Thread(target=hammer) for _ in range(8)]
        for worker in workers:
            worker.start()
        time.sleep(1)
        health = benchlib.wrk(f"http://127.0.0.1:{port}/health", 10, 1, threads=1)
        stop_flag.set()
        for worker in workers:
            worker.join()
        results["health_p99"] = health["p99_ms"]
    finally:
        benchlib.stop(proc)


def seed_tokens(cluster, count, prefix):
    """Creates one user, one family, and `count` unused refresh tokens; returns the tokens."""
    user_id = int(cluster.psql("INSERT INTO users (username, password) VALUES ('refresh-" + prefix + "', '!') RETURNING id", "bench").strip())
    family = str(uuid.uuid4())
    cluster.psql(f"INSERT INTO refresh_token_families (id, user_id, origin, created_at, expires_at) "
                 f"VALUES ('{family}', {user_id}, 'login', now(), now() + interval '30 days')", "bench")
    now = int(time.time())
    tokens, rows = [], []
    for i in range(count):
        jti = f"{prefix}{i:024x}"[-32:]
        token = mint({"token_type": "refresh", "exp": now + 86400, "iat": now, "jti": jti, "user_id": user_id})
        tokens.append(token)
        digest = "\\\\x" + hashlib.sha256(token.encode()).hexdigest()
        rows.append((jti, family, digest, "now", "2100-01-01"))
    cluster.copy("refresh_tokens (jti, family_id, token_sha256, issued_at, expires_at)", rows)
    return tokens, user_id, family


def bench_refresh(cluster, seconds, results, wrk_threads=2, rounds=3):
    """Alternates `rounds` refresh runs (wrk) with `rounds` pgbench runs of the same SQL, on one cluster and one
    server, so both sides of the ratio see the same neighbours; the medians and their ratio are what count."""
    env = {"DATABASE_URL": cluster.url, "SECRET_KEY": SECRET, "DB_POOL_SIZE": "16"}
    if ES256:
        env.update(JWT_SIGNING_ALGORITHM="ES256", JWT_ES256_PRIVATE_KEY=ES256["pem"])
    per_round = 6_000 * seconds  # more than the fastest run ever spends
    tokens, _, _ = seed_tokens(cluster, per_round * rounds, "a")
    # pgbench: the same statement and transaction shape as one refresh, a fresh token per transaction.
    _, user_id, family = seed_tokens(cluster, 0, "b")
    cluster.psql("CREATE SEQUENCE IF NOT EXISTS bench_token_seq", "bench")
    rows = [(f"pg-{i}", family, "\\\\x" + hashlib.sha256(f"pg-{i}".encode()).hexdigest(), "now", "2100-01-01")
            for i in range(12_000 * seconds * rounds)]
    cluster.copy("refresh_tokens (jti, family_id, token_sha256, issued_at, expires_at)", rows)
    cluster.psql("VACUUM ANALYZE", "bench")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "refresh.pgbench")
    proc, port = benchlib.serve(env, "refresh")
    try:
        os.environ["WRK_THREADS"] = str(wrk_threads)
        results["refresh"], tps_runs = benchlib.alternate_with_pgbench(
            "refresh", f"http://127.0.0.1:{port}/", cluster, script, seconds, rounds,
            lua=os.path.join(os.path.dirname(os.path.abspath(__file__)), "refresh.lua"), file_variable="TOKENS",
            lines=lambda index: tokens[index * per_round:(index + 1) * per_round], wrk_threads=wrk_threads)
    finally:
        benchlib.stop(proc)
    results["pgbench_tps"] = statistics.median(tps_runs)
    results["pgbench_runs"] = tps_runs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--iterations", type=int, default=1_200_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--wrk-threads", type=int, default=2, help="load-generator threads for refresh (connections stay 16)")
    parser.add_argument("--skip-login", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="refresh and pgbench runs, alternating")
    parser.add_argument("--algorithm", choices=["HS256", "ES256"], default="HS256", help="how the server signs tokens")
    args = parser.parse_args()
    if args.algorithm == "ES256":
        use_es256()
    cluster = benchlib.migrated_cluster(args.no_build)
    results = {}
    try:
        if not args.skip_login:
            bench_login(cluster, args.iterations, results)
        bench_refresh(cluster, args.seconds, results, args.wrk_threads, args.rounds)
    finally:
        cluster.stop()

    refresh = results["refresh"]
    pg_ratio = refresh["rps"] / results["pgbench_tps"]
    rows = []
    if not args.skip_login:
        per_login, floor = results["login_cpu"]
        ratio = per_login / floor
        rows += [
            (f"login CPU per request ({args.iterations:,} iterations)", f"{per_login * 1000:.0f} ms",
             f"≤ 1.15× one PBKDF2 ({floor * 1000:.0f} ms, hashlib)", f"{ratio:.2f}×", ratio <= 1.15),
            ("/health p99 while 8 logins run (wrk -t1 -c1 -d10s)", f"{results['health_p99']:.2f} ms", "< 10 ms",
             f"{results['health_p99'] / 10:.2f}× of limit", results["health_p99"] < 10),
        ]
    rows += [
        (f"refresh{' (ES256)' if ES256 else ''}, wrk -t{args.wrk_threads} -c16 -d{args.seconds}s, fresh token per request (median of {args.rounds})", f"{refresh['rps']:,.0f} req/s",
         "≥ 3,000 req/s", f"{refresh['rps'] / 3000:.2f}× of limit", refresh["rps"] >= 3000 and refresh["non2xx"] == 0),
        ("refresh p99", f"{refresh.get('p99_ms', float('nan')):.2f} ms", "< 20 ms",
         f"{refresh.get('p99_ms', 0) / 20:.2f}× of limit", refresh.get("p99_ms", 99) < 20),
        (f"pgbench -c16 -j2 -M prepared, same SQL as one refresh (median of {args.rounds}, alternating with refresh)", f"{results['pgbench_tps']:,.0f} tps",
         "refresh ≥ 50% of it", f"{pg_ratio:.0%}", pg_ratio >= 0.5),
    ]
    passed = benchlib.print_table(rows)
    print(f"\nrefresh non-2xx responses: {refresh['non2xx']}")
    print("refresh/pgbench rounds: " + "; ".join(
        f"{run['rps']:,.0f} req/s vs {tps:,.0f} tps ({run['rps'] / tps:.0%})" for run, tps in zip(refresh["runs"], results["pgbench_runs"])))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
