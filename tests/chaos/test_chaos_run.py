"""The chaos run, small: a few hundred orders through each fake broker with every fault on,
converged within two poll cycles (`bench/chaos.py` as a user runs it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from bench.chaos import Result

from tests.support.audit import Audit

ROOT = Path(__file__).parents[2]
SUMMARY = re.compile(
    r"^chaos: orders=(?P<orders>\d+) faults=(?P<faults>\d+) lost_fills=(?P<lost>\d+) "
    r"double_counted=(?P<doubled>\d+) regressions=(?P<regressions>\d+) "
    r"mismatched=(?P<mismatched>\d+) converged_s=(?P<converged>[\d.]+|never)$"
)


def chaos(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("broker", "orders"), [("tradier", 300), ("ibkr", 120), ("paper", 300)])
def test_a_small_chaos_run_converges_with_nothing_lost_doubled_or_moved_back(
    broker: str, orders: int
) -> None:
    run = chaos("--orders", str(orders), "--broker", broker, "--disconnect-every", "3")
    lines = run.stdout.splitlines()
    assert len(lines) == 1, run.stdout + run.stderr
    summary = SUMMARY.match(lines[0])
    assert summary is not None, lines[0]
    assert run.returncode == 0, run.stdout + run.stderr
    assert int(summary["orders"]) == orders and int(summary["faults"]) > 0
    assert summary["lost"] == summary["doubled"] == summary["regressions"] == "0"
    assert summary["mismatched"] == "0" and summary["converged"] != "never"


@pytest.mark.parametrize(
    "counts",
    [
        {"lost_fills": 1},
        {"double_counted": 2},
        {"regressions": 1},
        {"mismatched": 1},
        {"orphans": 1},
        {"phantoms": 1},
        {"placed_twice": 1},
        {"unplaced": 1},
    ],
)
def test_any_count_other_than_zero_fails_the_run(counts: dict[str, int]) -> None:
    bad = Result(orders=5, faults=9, audit=Audit(**counts), converged_s=1.0)
    assert not bad.ok and SUMMARY.match(bad.line())
    assert Result(orders=5, faults=9, audit=Audit(), converged_s=1.0).ok
    never = Result(orders=5, faults=9, audit=Audit(), converged_s=None)
    assert not never.ok and never.line().endswith("converged_s=never")
