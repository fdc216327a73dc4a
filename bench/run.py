"""Run every benchmark and print one line per figure (`make bench`, `make bench-quick`).

    python bench/run.py [--quick] [--only apply_throughput,poll_reconcile,...]

Each figure script runs as its own process (`python -m bench.<script>`), so one's memory and
threads never weigh on another's. Lines starting with `bench:` are the figures; indented `#`
lines say what was measured. The machine is described first, a summary comes last; the exit
status is 1 when a figure misses its target. The PostgreSQL databases the scripts made are
dropped at the end (one script run alone leaves its database for a look).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.perf_support.databases import drop_bench_databases  # noqa: E402
from bench.perf_support.figures import machine  # noqa: E402

SCRIPTS = (
    "apply_throughput",
    "poll_reconcile",
    "stream_latency",
    "api_board",
    "explain_queries",
)
# Further runs of a script with other arguments (none at present).
EXTRA: dict[str, list[list[str]]] = {}


def run(script: str, quick: bool, extra: list[str]) -> list[str]:
    """Run one figure script; echo its output; return its figure lines."""
    command = [sys.executable, "-m", f"bench.{script}", *(["--quick"] if quick else []), *extra]
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    }
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    figures = []
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith("bench: "):
            figures.append(line.rstrip())
    if process.wait() != 0:
        figures.append(
            f"bench: {script} value=nan unit=error baseline=nan ratio=nan target=run ok=false"
        )
        print(figures[-1], flush=True)
    print(f"  # {script} {' '.join(extra)} took {time.monotonic() - started:.0f} s", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes, under a minute")
    parser.add_argument("--only", help="comma-separated script names")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SCRIPTS)
    about = machine()
    print(
        f"  # machine: {about['cpus']} CPUs ({about['cpu']}), {about['memory']}; Python "
        f"{about['python']}, SQLite {about['sqlite']}, PostgreSQL {about['postgresql']}; "
        f"{about['platform']}",
        flush=True,
    )
    started = time.monotonic()
    figures: list[str] = []
    for script in chosen:
        figures += run(script, args.quick, [])
        if not args.quick:
            for extra in EXTRA.get(script, []):
                figures += run(script, args.quick, extra)
    dropped = drop_bench_databases()
    if dropped:
        print(f"  # dropped the benchmark's PostgreSQL databases: {', '.join(dropped)}")
    missed = [line for line in figures if line.endswith("ok=false")]
    print(f"  # {len(figures)} figures in {time.monotonic() - started:.0f} s; {len(missed)} missed")
    for line in missed:
        print(f"  # missed: {line[7:]}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
