"""Shared fixtures: a fresh database on SQLite and on PostgreSQL for the tests that ask for one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from ordertrail.clock import FakeClock
from ordertrail.storage import migrate
from ordertrail.storage.engine import make_engine


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A PostgreSQL database of this test run's own (several runs may share one server)."""
    base = os.environ.get("ORDERTRAIL_TEST_DATABASE_URL")
    if not base:
        yield None
        return
    server, name = _psycopg(base).rsplit("/", 1)
    own = f"{name}_{os.getpid()}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{own}"'))
    try:
        yield f"{server}/{own}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)'))
        admin.dispose()


def _fresh_postgres(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: object, postgres_url: str | None
) -> Iterator[str]:
    """A fresh, empty database URL: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ordertrail.db"
        return
    if not postgres_url:
        pytest.skip("no PostgreSQL server could be started (see scripts/ensure-postgres.sh)")
    yield _fresh_postgres(postgres_url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The app's engine on a fresh database at the latest schema (both databases)."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
