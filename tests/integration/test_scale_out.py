"""Scale-out: workers share accounts through PostgreSQL advisory locks; SQLite allows one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.scale import run_takeover

from tests.support.eventually import eventually_sync


@pytest.mark.postgres
def test_three_workers_share_thirty_accounts_and_take_over_a_killed_ones(
    tmp_path: Path, postgres_url: str | None
) -> None:
    url = postgres_url
    if not url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    result = run_takeover(accounts=30, workers=3, kill=1, url=url, poll=1.0, logs=tmp_path)
    assert result.watched_once
    assert (result.lost, result.doubled) == (0, 0)
    assert result.takeover_s <= 2 * 1.0, result.line()


def test_a_second_worker_on_the_same_sqlite_database_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")} | {
        "ORDERTRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/one.db",
        "ORDERTRAIL_PAPER_ACCOUNT_ID": "P1",
    }
    command = [sys.executable, "-m", "ordertrail", "worker"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lock = tmp_path / "one.db.worker.lock"
        eventually_sync(lambda: lock.exists() and "pid" in lock.read_text(), timeout=30)
        second = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert second.returncode != 0
        assert "another ordertrail worker" in second.stderr
        assert "PostgreSQL" in second.stderr
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(timeout=10)
