"""Fixtures: one harness per broker adapter, and the real app on SQLite (and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.conformance.harness import (
    Harness,
    IbkrHarness,
    PaperHarness,
    TradierHarness,
    TwsHarness,
)
from tests.conformance.world import World
from tests.fakes.tradier import FakeTradier

BROKERS = ["paper", "tradier", "ibkr", "tws"]
# Core scenarios also run on PostgreSQL: `@BOTH_DATABASES` on the test.
BOTH_DATABASES = pytest.mark.parametrize(
    "db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)


@pytest.fixture(scope="session")
def served_tradier() -> Iterator[FakeTradier]:
    with FakeTradier(token="conformance-token", accounts=("VA55555555",)) as fake:
        yield fake


@pytest.fixture(params=BROKERS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    made: Harness
    if request.param == "paper":
        made = PaperHarness()
    elif request.param == "tradier":
        made = TradierHarness(request.getfixturevalue("served_tradier"))
    elif request.param == "ibkr":
        made = IbkrHarness()
    else:
        made = TwsHarness()
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
def db() -> str:
    """Which database a scenario runs on; `@BOTH_DATABASES` adds PostgreSQL."""
    return "sqlite"


@pytest.fixture
def database(db: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if db == "sqlite":
        return f"sqlite:///{tmp_path}/ordertrail.db"
    url = request.getfixturevalue("postgres_url")
    if not url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return str(url)


@pytest.fixture
async def world(harness: Harness, database: str) -> AsyncIterator[World]:
    running = World(harness, database)
    await running.start()
    yield running
    await running.stop()
