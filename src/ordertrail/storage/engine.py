"""Engines: SQLite with WAL and foreign keys, or PostgreSQL through psycopg 3."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ordertrail.errors import ConfigurationError
from ordertrail.storage import driver

WRITE_OPTION = "ordertrail_write"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Build the engine for `url` (ORDERTRAIL_DATABASE_URL)."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(
            f"ORDERTRAIL_DATABASE_URL {url!r} is not a database URL "
            "(use sqlite:///./ordertrail.db or postgresql://user@host/db)"
        ) from error
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, future=True
        )
    raise ConfigurationError(
        f"ORDERTRAIL_DATABASE_URL uses {parsed.get_backend_name()!r}; "
        "ordertrail supports sqlite and postgresql"
    )


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoint the write-ahead log every 10,000 pages (40 MB), not every 1,000: the
        # order pages and indexes a busy account rewrites are copied back once, not ten times.
        # While watchers run, the log is checkpointed between the applier's transactions
        # (storage/checkpoint.py) and this stays the backstop.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the lock up front: no deadlocked read-to-write upgrades between processes.
        writing = connection.get_execution_options().get(WRITE_OPTION, False)
        driver.run(connection, "BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine
