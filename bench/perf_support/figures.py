"""Figure lines (`bench: <name> value=... ok=...`), timers and the machine description."""

from __future__ import annotations

import gc
import math
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure against its same-run baseline and its target."""

    name: str
    value: float
    unit: str
    baseline: float
    ratio: float
    target: str
    ok: bool

    def line(self) -> str:
        """The one line `make bench` prints for this figure."""
        return (
            f"bench: {self.name} value={_num(self.value)} unit={self.unit} "
            f"baseline={_num(self.baseline)} ratio={_num(self.ratio)} target={self.target} "
            f"ok={'true' if self.ok else 'false'}"
        )


def emit(figure: Figure) -> Figure:
    """Print a figure line (flushed, so a parent process sees it at once)."""
    print(figure.line(), flush=True)
    return figure


def note(text: str) -> None:
    """Print a context line that is not a figure (sizes, what was measured)."""
    print(f"  # {text}", flush=True)


def _num(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Time a block; the elapsed seconds land in the yielded list."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `samples` (fraction in 0..1)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def best_of(runs: Sequence[float]) -> float:
    """The fastest of repeated timings: the least disturbed by other work on the machine."""
    return min(runs)


def machine() -> dict[str, str]:
    """What the figures ran on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": _free(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
    }


def _free() -> str:
    try:
        out = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Mem:"):
            return line.split()[1] + " total"
    return "unknown"


def _postgres_version() -> str:
    try:
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return out or "unavailable"


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep what exists now out of the garbage collector's full passes while the block runs,
    as `serve` does with what its startup built; a benchmark also holds its whole input
    (a day's reports, parsed), which `serve` never does, and which a full pass would walk."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.collect()
