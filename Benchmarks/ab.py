#!/usr/bin/env python3
"""A/B: the same benchmark scripts on two checkouts, alternating, in one sitting on one machine.

Usage: python3 Benchmarks/ab.py --base DIR [--rounds 2] [--scripts runtime.py auth.py "webhooks.py --only receive"] [--no-build]

DIR is another checkout (for example `git worktree add ../base HEAD~1`). Both are built in release mode (unless
--no-build), then each round runs every script once from the base checkout and once from this one, in alternating
order (A B, then B A, ...), each with its own binaries and its own throwaway PostgreSQL. The machine is shared and
noisy, so what is compared is each measure's ratio to its reference in the same run (refresh and receive against
pgbench, the shim against bare Hummingbird) plus cold start and idle memory, as medians over the rounds. Prints a
Markdown table: measure, base median, this checkout's median, and this/base.
"""
import argparse, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from all import number, tables  # noqa: E402


def build(root):
    for product in ("functions", "shim-benchmark"):
        subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product], cwd=root, check=True)


def run(root, script):
    """One run of `script` (a script name, optionally followed by its arguments) from checkout `root`:
    {measure: (result, ratio)} and {function: (cold, rss)}."""
    name, *extra = script.split()
    done = subprocess.run([sys.executable, os.path.join(root, "Benchmarks", name), "--no-build", *extra], capture_output=True, text=True)
    measures, functions = {}, {}
    for group in tables(done.stdout):
        if group["header"][:2] == ["measure", "result"]:
            for row in group["rows"]:
                if len(row) >= 5:
                    measures[row[0]] = (number(row[1]), number(row[3]))
        elif group["header"][0].startswith("function"):
            for row in group["rows"]:
                functions[row[0]] = (number(row[1]), number(row[2]))
    if done.returncode not in (0, 1) or not (measures or functions):
        sys.stderr.write(f"{script} in {root} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}\n")
    return measures, functions


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scripts", nargs="+", default=["runtime.py", "auth.py", "webhooks.py"])
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    sides = {"base": os.path.abspath(args.base), "this": ROOT}
    if not args.no_build:
        for root in sides.values():
            build(root)
    samples = {}  # (side, key) -> list of values
    order = []
    for round_index in range(args.rounds):
        sequence = ["base", "this"] if round_index % 2 == 0 else ["this", "base"]
        for script in args.scripts:
            for side in sequence:
                print(f"== round {round_index + 1}: {script} on {side}", flush=True)
                measures, functions = run(sides[side], script)
                for measure, (result, ratio) in measures.items():
                    for kind, value in (("ratio", ratio), ("result", result)):
                        if value is None:
                            continue
                        key = (script, f"{measure} ({kind})")
                        if key not in order:
                            order.append(key)
                        samples.setdefault((side, key), []).append(value)
                for function, (cold, rss) in functions.items():
                    for kind, value in (("cold start ms", cold), ("idle RSS MB", rss)):
                        key = (script, f"{function}: {kind}")
                        if value is None:
                            continue
                        if key not in order:
                            order.append(key)
                        samples.setdefault((side, key), []).append(value)
    print(f"\n| script | measure | base (median of {args.rounds}) | this (median of {args.rounds}) | this / base |")
    print("|---|---|---|---|---|")
    for key in order:
        base, this = samples.get(("base", key)), samples.get(("this", key))
        if not base or not this:
            continue
        a, b = statistics.median(base), statistics.median(this)
        change = f"{b / a:.3f}" if a else "-"
        print(f"| {key[0]} | {key[1]} | {a:,.2f} | {b:,.2f} | {change} |")


if __name__ == "__main__":
    main()
