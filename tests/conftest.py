"""Shared fixtures: a fresh database on SQLite and on PostgreSQL for the tests that ask for one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from ordertrail.clock import FakeClock


def _fresh_postgres(url: str) -> str:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A fresh, empty database URL: SQLite file, then the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ordertrail.db"
        return
    url = os.environ.get("ORDERTRAIL_TEST_DATABASE_URL")
    if not url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    yield _fresh_postgres(url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
