#!/usr/bin/env python3
"""Runs every benchmark once and prints their tables in one go (the figures for BENCHMARKS.md).

Usage: python3 Benchmarks/all.py [--no-build]

Builds the release binaries once, then runs runtime.py, auth.py, webhooks.py, alerts.py and metrics.py with
--no-build, in that order, each with its own throwaway PostgreSQL. Exit status 0 only when every limit is met.
"""
import os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402


def main():
    if "--no-build" not in sys.argv:
        benchlib.build()
    failed = []
    for script in ("runtime.py", "auth.py", "webhooks.py", "alerts.py", "metrics.py"):
        print(f"\n## {script}\n\nCommand: `python3 Benchmarks/{script} --no-build`\n", flush=True)
        code = subprocess.run([sys.executable, os.path.join(HERE, script), "--no-build"]).returncode
        if code != 0:
            failed.append(script)
    print(f"\nlimits not met in: {', '.join(failed)}" if failed else "\nevery limit met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
