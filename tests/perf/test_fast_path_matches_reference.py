"""The batched apply path writes exactly what the one-statement-per-row path wrote."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from ordertrail.clock import FakeClock
from ordertrail.services.apply import ApplyResult, apply_groups, apply_reports
from ordertrail.storage import migrate
from ordertrail.storage.engine import make_engine
from ordertrail.storage.uow import SqlUnitOfWork
from tests.conftest import _fresh_postgres
from tests.perf.reference import apply_reports_one_by_one
from tests.perf.streams import dump, seed_world, stream


@pytest.fixture
def two_databases(database_url: str, tmp_path: object) -> Iterator[tuple[Engine, Engine]]:
    """Two empty databases of the same kind (the second PostgreSQL one is a second schema)."""
    first = make_engine(database_url)
    if database_url.startswith("sqlite"):
        second = make_engine(f"sqlite:///{tmp_path}/second.db")
    else:
        second_url = database_url.rsplit("/", 1)[0] + "/ordertrail_perf_second"
        admin = make_engine(database_url.rsplit("/", 1)[0] + "/postgres")
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = 'ordertrail_perf_second'"
            ).scalar()
            if not exists:
                connection.exec_driver_sql("CREATE DATABASE ordertrail_perf_second")
        admin.dispose()
        second = make_engine(_fresh_postgres(second_url))
    for engine in (first, second):
        migrate.upgrade(engine)
    yield first, second
    first.dispose()
    second.dispose()


def _chunks(reports: list[object], rng: random.Random) -> Iterator[list[object]]:
    start = 0
    while start < len(reports):
        size = rng.choice((1, 2, 7, 30, 200))
        yield reports[start : start + size]
        start += size


def _same_results(fast: ApplyResult, slow: ApplyResult) -> None:
    assert fast == slow


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batched_apply_writes_what_row_by_row_apply_wrote(
    two_databases: tuple[Engine, Engine], seed: int
) -> None:
    reference, fast = two_databases
    planned = seed_world(reference, random.Random(seed), 60)
    seed_world(fast, random.Random(seed), 60)
    reports = stream(planned, random.Random(seed + 100))
    clock = FakeClock()
    for chunk in _chunks(reports, random.Random(seed + 200)):
        slow = apply_reports_one_by_one(SqlUnitOfWork(reference), chunk, clock)  # type: ignore[arg-type]
        quick = apply_reports(SqlUnitOfWork(fast), chunk, clock)  # type: ignore[arg-type]
        _same_results(quick, slow)
        clock.advance(1)
    assert dump(fast) == dump(reference)


def test_group_commit_gives_each_caller_its_own_result(
    two_databases: tuple[Engine, Engine],
) -> None:
    reference, fast = two_databases
    planned = seed_world(reference, random.Random(9), 40)
    seed_world(fast, random.Random(9), 40)
    reports = stream(planned, random.Random(109))
    groups = list(_chunks(reports, random.Random(209)))
    clock = FakeClock()
    alone = [apply_reports_one_by_one(SqlUnitOfWork(reference), g, clock) for g in groups]  # type: ignore[arg-type]
    together = apply_groups(SqlUnitOfWork(fast), groups, clock)  # type: ignore[arg-type]
    assert together == alone
    assert dump(fast) == dump(reference)
