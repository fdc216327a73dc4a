"""SQLite's write-ahead log is copied into the database beside the writers while watchers run,
and the automatic checkpoint stays as the backstop."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ordertrail.bootstrap import bootstrap
from ordertrail.clock import FakeClock
from ordertrail.services.applier import Applier
from ordertrail.settings import Settings
from ordertrail.storage import migrate
from ordertrail.storage.checkpoint import WalCheckpointer, wal_checkpoints
from ordertrail.storage.engine import make_engine
from ordertrail.storage.uow import SqlUnitOfWork
from tests.support.eventually import eventually


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ordertrail.db"


@pytest.fixture
def engine(path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE scratch (n INTEGER)")
    with engine.connect() as c:  # what the migration wrote goes into the database file itself
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    yield engine
    engine.dispose()


def _write(engine: Engine, count: int) -> None:
    for n in range(count):
        with engine.begin() as c:
            c.exec_driver_sql("INSERT INTO scratch (n) VALUES (?)", (n,))


def _rows_in_the_file_alone(path: Path, copy: Path) -> int:
    """Count rows in a copy of the database file without its log (what was copied back)."""
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as c:
        return int(c.execute("SELECT count(*) FROM scratch").fetchone()[0])


async def test_the_checkpointer_copies_the_log_into_the_database(
    engine: Engine, path: Path, tmp_path: Path
) -> None:
    _write(engine, 50)
    assert _rows_in_the_file_alone(path, tmp_path / "before.db") == 0  # all in the log still
    checkpointer = WalCheckpointer(engine, interval=0.01)
    checkpointer.start()
    try:
        await eventually(lambda: checkpointer.last is not None and checkpointer.last[2] > 0)
    finally:
        checkpointer.stop()
    assert checkpointer.last is not None
    busy, frames, copied = checkpointer.last
    assert busy == 0 and copied == frames
    assert _rows_in_the_file_alone(path, tmp_path / "after.db") == 50


async def test_checkpoints_between_the_writers_transactions_keep_the_log_short(
    engine: Engine,
) -> None:
    """Run by the applier between two transactions, a checkpoint copies the whole log with no
    commit racing it, so the next transaction starts the log over: it stays as short as what
    was written between two checkpoints, however long writing goes on."""
    applier = Applier(lambda: SqlUnitOfWork(engine), FakeClock())
    threads: set[str] = set()

    def on_writer(work: Any) -> Any:
        def noted() -> Any:
            threads.add(threading.current_thread().name)
            return work()

        return applier.call(noted)

    checkpointer = WalCheckpointer(engine, interval=0.01, between=on_writer)
    checkpointer.start()
    longest = 0
    try:
        # One transaction after another with no pause: a checkpoint beside the writer never
        # sees the whole log copied before the next commit, so the log would only grow
        # (to about a frame per transaction, 300 here).
        for _ in range(300):
            await applier.run(lambda: _write(engine, 1))
            if checkpointer.last is not None:
                longest = max(longest, checkpointer.last[1])
    finally:
        checkpointer.stop()
        applier.close()
    assert threads == {"ordertrail-apply"}
    assert checkpointer.runs >= 3
    busy, frames, copied = checkpointer.last or (1, 0, 0)
    assert busy == 0 and copied == frames
    assert 0 < longest < 150, f"the log grew to {longest} frames: it was never started over"


def test_writers_keep_the_automatic_checkpoint_as_a_backstop(engine: Engine) -> None:
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10000


def test_checkpoints_run_only_while_the_block_runs(engine: Engine) -> None:
    with wal_checkpoints(engine, interval=0.01):
        assert _checkpoint_threads() == 1
    assert _checkpoint_threads() == 0


def test_nothing_runs_for_an_in_memory_database() -> None:
    engine = make_engine("sqlite://")
    with wal_checkpoints(engine, interval=0.01):
        assert _checkpoint_threads() == 0


async def test_the_watchers_checkpoint_while_they_run(
    engine: Engine, path: Path, tmp_path: Path
) -> None:
    app = bootstrap(Settings(database_url=f"sqlite:///{path}"), brokers={})
    watching = asyncio.create_task(app.run_watchers())
    try:
        await eventually(lambda: _checkpoint_threads() == 1, timeout=10)
        await asyncio.to_thread(_write, app.engine, 20)
        copy = tmp_path / "copy.db"
        await eventually(lambda: _rows_in_the_file_alone(path, copy) == 20, timeout=10)
    finally:
        watching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watching
        await app.aclose()
    assert _checkpoint_threads() == 0


def _checkpoint_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "ordertrail-checkpoint")
