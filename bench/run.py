"""Run every benchmark and print one line per figure (`make bench`, `make bench-quick`).

    python bench/run.py [--quick] [--only apply_throughput,poll_reconcile,...]

Each figure script runs as its own process (`python -m bench.<script>`), so one's memory and
threads never weigh on another's. Lines starting with `bench:` are the figures; indented `#`
lines say what was measured. The machine is described first, a summary comes last; the exit
status is 1 when a figure misses its target. The PostgreSQL databases the scripts made are
dropped after each script, and the machine is let settle before the next (see `settle`); one
script run alone leaves its database for a look.
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

from bench.perf_support.databases import checkpoint, drop_bench_databases  # noqa: E402
from bench.perf_support.figures import machine  # noqa: E402

SCRIPTS = (
    "apply_throughput",
    "poll_reconcile",
    "stream_latency",
    "api_board",
    "explain_queries",
)
SETTLE_S = 30.0  # the longest wait for the load average to fall between scripts
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


def settle() -> list[str]:
    """Leave the next script a quiet machine: drop the PostgreSQL databases the last one made
    (a million orders, say, that autovacuum would otherwise go on reading), checkpoint the
    server, write the page cache's dirty pages out and wait for the load to fall. A latency
    figure then measures its own script, not the write-back of the one before it."""
    dropped = drop_bench_databases()
    checkpoint()
    os.sync()
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and _busy_over_a_second() > 0.1:
        pass
    return dropped


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (Linux)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def _busy_over_a_second() -> float:
    """The share of the machine's CPU time that was busy over the next second."""
    busy, total = _cpu_times()
    time.sleep(1)
    busy_after, total_after = _cpu_times()
    return (busy_after - busy) / max(total_after - total, 1)


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
    dropped: list[str] = []
    for script in chosen:
        figures += run(script, args.quick, [])
        if not args.quick:
            for extra in EXTRA.get(script, []):
                figures += run(script, args.quick, extra)
        dropped += settle() if not args.quick else []
    dropped += drop_bench_databases()
    if dropped:
        names = ", ".join(sorted(set(dropped)))
        print(f"  # dropped the benchmark's PostgreSQL databases: {names}")
    missed = [line for line in figures if line.endswith("ok=false")]
    print(f"  # {len(figures)} figures in {time.monotonic() - started:.0f} s; {len(missed)} missed")
    for line in missed:
        print(f"  # missed: {line[7:]}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
