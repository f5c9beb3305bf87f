"""Shared helpers for the benchmark scripts: ports, a throwaway PostgreSQL, the release binaries."""
import os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")


def build():
    for product in ("functions", "shim-benchmark"):
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product], cwd=ROOT, check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, method="GET", path="/health", body=b"", headers=None, timeout=30):
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def wait_http(port, path="/health", seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            return http(port, path=path)
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"nothing answered on port {port}")


def pg_bin():
    versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True)
    for version in versions:
        path = f"/usr/lib/postgresql/{version}/bin"
        if os.path.exists(f"{path}/pg_ctl"):
            return path
    raise SystemExit("PostgreSQL server binaries not found: apt-get install -y postgresql")


class Cluster:
    """A throwaway PostgreSQL with durable settings (fsync on), as production would run."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="functions-bench-pg-", dir="/tmp")
        self.bin = pg_bin()
        self.port = free_port()
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.run("initdb", "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB"
        self.run("pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-o", options, "-w", "start")
        self.psql("CREATE DATABASE bench")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/bench?sslmode=disable"

    def run(self, tool, *args, input=None):
        command = [f"{self.bin}/{tool}", *args]
        if self.root:
            command = ["runuser", "-u", "postgres", "--"] + command
        return subprocess.run(command, check=True, capture_output=True, input=input, text=True).stdout

    def psql(self, sql, database="postgres"):
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            check=True, capture_output=True, text=True).stdout

    def copy(self, table_and_columns, rows, database="bench"):
        data = "".join("\t".join(row) + "\n" for row in rows)
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
             "-c", f"\\copy {table_and_columns} FROM STDIN"], input=data, check=True, capture_output=True, text=True)

    def stop(self):
        try:
            self.run("pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def serve(env, target):
    port = free_port()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port), "HOST": "127.0.0.1",
                   "FUNCTION_TARGET": target, "LOG_LEVEL": "warning", **env}
    proc = subprocess.Popen([os.path.join(BIN, "functions"), "serve"], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port)
    return proc, port


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def wrk(url, seconds, connections, threads=2, script=None):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", script]
    out = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "raw": out}
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    if p99:
        value, unit = float(p99.group(1)), p99.group(2)
        result["p99_ms"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    return result


def pgbench(cluster, script, seconds, mode="prepared", clients=16, jobs=2, database="bench"):
    """Runs `pgbench -c<clients> -j<jobs> -M <mode> -T<seconds> -f <script>` on `cluster`; returns its tps."""
    out = subprocess.run([os.path.join(cluster.bin, "pgbench"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                          "-n", "-M", mode, "-c", str(clients), "-j", str(jobs), "-T", str(seconds), "-f", script, database],
                         capture_output=True, text=True, check=True).stdout
    return float(next(line for line in out.splitlines() if line.startswith("tps")).split("=")[1].split()[0])


def alternate_with_pgbench(name, url, cluster, pgbench_script, seconds, rounds, lua, file_variable, lines,
                           wrk_threads=2, pgbench_mode="prepared"):
    """Alternates `rounds` wrk runs against `url` (script `lua`, reading the file named by `file_variable`, which
    holds `lines(index)` for round `index`) with `rounds` pgbench runs of `pgbench_script` on `cluster`, so both sides
    of a ratio see the same neighbours. Prints each round; returns the wrk medians and the pgbench tps of each run."""
    runs, tps_runs = [], []
    for index in range(rounds):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(lines(index)) + "\n")
        os.environ[file_variable] = f.name
        try:
            runs.append(wrk(url, seconds, 16, threads=wrk_threads, script=lua))
        finally:
            os.unlink(f.name)
        tps_runs.append(pgbench(cluster, pgbench_script, seconds, mode=pgbench_mode))
        print_round(name, runs, tps_runs)
    return medians(runs), tps_runs


def print_round(name, runs, tps_runs):
    """Prints the latest round of alternating wrk and pgbench runs (to stderr, beside the table)."""
    run, tps = runs[-1], tps_runs[-1]
    print(f"round {len(runs)}: {name} {run['rps']:,.0f} req/s (p99 {run.get('p99_ms', float('nan')):.2f} ms), "
          f"pgbench {tps:,.0f} tps, {run['rps'] / tps:.0%}", file=sys.stderr)


def medians(runs):
    """One wrk result from several: median rate and p99, non-2xx summed, the runs kept."""
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "p99_ms": statistics.median(run.get("p99_ms", 99) for run in runs),
        "non2xx": sum(run["non2xx"] for run in runs),
        "runs": runs,
    }


def print_table(rows):
    """Prints (measure, result, limit, ratio, ok) rows as the Markdown table BENCHMARKS.md holds; True when all ok."""
    print("| measure | result | limit | ratio | ok |\n|---|---|---|---|---|")
    for name, value, limit, ratio_text, ok in rows:
        print(f"| {name} | {value} | {limit} | {ratio_text} | {'yes' if ok else 'NO'} |")
    return all(row[4] for row in rows)


def migrated_cluster(no_build):
    """Builds the release binaries (unless `no_build`), starts a throwaway cluster and migrates it."""
    if not no_build:
        build()
    cluster = Cluster()
    try:
        subprocess.run([os.path.join(BIN, "functions"), "migrate"], check=True, capture_output=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": cluster.url})
    except BaseException:
        cluster.stop()
        raise
    return cluster
