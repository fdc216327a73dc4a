"""Many quiet accounts across N workers: accounts per worker, poll lag and database load.

Real worker processes, a real PostgreSQL and one fake Tradier server holding every account;
each account has one working order, so every worker polls at the idle interval.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select, text
from tests.fakes.tradier import FakeTradier

from bench.scale import (
    DEFAULT_DB,
    TOKEN,
    ensure_database,
    fresh_database,
    owners,
    start_worker,
    wait_until,
)
from ordertrail.broker_factory import AccountSpec
from ordertrail.clock import SystemClock
from ordertrail.services.accounts import add_account
from ordertrail.storage.tables import sync_state

MEASURE_S = 20.0


def simulate(
    accounts: int, worker_counts: list[int], poll: float, url: str = DEFAULT_DB
) -> Iterator[str]:
    """Yield one line per worker count, after a header line."""
    ensure_database(url)
    names = [f"VA{n:08d}" for n in range(accounts)]
    yield (
        f"scale-sim: accounts={accounts} idle_poll_s={poll} measure_s={MEASURE_S:.0f} "
        "(lag = now - last poll, per account)"
    )
    with FakeTradier(token=TOKEN, accounts=names) as fake:
        fake.set_limits(3600.0, standard=10**9, trading=10**9)
        for name in names:
            fake.create_order("AAPL", "buy", 10, "limit", price="100", account=name)
        for workers in worker_counts:
            yield _one_run(url, fake, names, workers, poll)


def _one_run(url: str, fake: FakeTradier, names: list[str], workers: int, poll: float) -> str:
    engine = fresh_database(url)
    settings = {"base_url": fake.base_url, "stream_enabled": False}
    for name in names:
        add_account(engine, AccountSpec("tradier", name, TOKEN, settings), SystemClock())
    logs = Path("/tmp")
    procs = [start_worker(url, poll, logs / f"sim-worker-{i}.log") for i in range(workers)]
    try:
        wait_until(lambda: len(owners(engine)) == len(names), 300, "every account watched")
        wait_until(lambda: _all_polled(engine, len(names)), 300, "a first poll everywhere")
        before = _db_counters(engine)
        started = time.monotonic()
        lags: list[float] = []
        while time.monotonic() - started < MEASURE_S:
            lags.extend(_lags(engine))
            time.sleep(1.0)
        after = _db_counters(engine)
        elapsed = time.monotonic() - started
        shares = sorted(Counter(owners(engine).values()).values())
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    engine.dispose()
    lags.sort()
    commits = (after[0] - before[0]) / elapsed
    rows = (after[1] - before[1]) / elapsed
    return (
        f"scale-sim: workers={workers} accounts_per_worker={shares[0]}..{shares[-1]} "
        f"lag_p50_s={statistics.median(lags):.2f} lag_p99_s={lags[int(len(lags) * 0.99)]:.2f} "
        f"lag_max_s={lags[-1]:.2f} db_commits_per_s={commits:.0f} db_rows_per_s={rows:.0f}"
    )


def _all_polled(engine: Engine, count: int) -> bool:
    query = select(sync_state.c.account_id).where(sync_state.c.last_polled_at.is_not(None))
    with engine.connect() as connection:
        return len(connection.execute(query).all()) >= count


def _lags(engine: Engine) -> list[float]:
    now = datetime.now(UTC)
    with engine.connect() as connection:
        stamps = connection.execute(select(sync_state.c.last_polled_at)).scalars().all()
    return [(now - s).total_seconds() for s in stamps if s is not None]


def _db_counters(engine: Engine) -> tuple[int, int]:
    query = text(
        "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted + tup_fetched "
        "FROM pg_stat_database WHERE datname = current_database()"
    )
    with engine.connect() as connection:
        commits, rows = connection.execute(query).one()
    return int(commits), int(rows)
