"""Fresh benchmark databases: a SQLite file in a temporary directory, or `ordertrail_bench`."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine

from ordertrail.storage import migrate
from ordertrail.storage.engine import make_engine

PG_SERVER = os.environ.get("ORDERTRAIL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DATABASE = "ordertrail_bench"


def postgres_available() -> bool:
    """Tell whether the PostgreSQL server answers (ensure-postgres.sh starts it)."""
    try:
        engine = create_engine(f"{PG_SERVER}/postgres")
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return False
    return True


def _ensure_pg_database(name: str) -> None:
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}
        ).scalar()
        if not found:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


@contextmanager
def fresh_database(kind: str, name: str = PG_DATABASE) -> Iterator[tuple[str, Engine]]:
    """Yield (url, engine) of an empty, migrated database; `kind` is sqlite or postgresql."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ordertrail-bench-") as folder:
            url = f"sqlite:///{folder}/bench.db"
            engine = make_engine(url)
            migrate.upgrade(engine)
            try:
                yield url, engine
            finally:
                engine.dispose()
        return
    _ensure_pg_database(name)
    url = f"{PG_SERVER}/{name}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(engine)
    try:
        yield url, engine
    finally:
        engine.dispose()


def drop_bench_databases() -> list[str]:
    """Drop the PostgreSQL databases the scripts made (`ordertrail_bench*`, a million orders
    among them); return their names. Nothing to do without a server."""
    if not postgres_available():
        return []
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            names = list(
                connection.exec_driver_sql(
                    "SELECT datname FROM pg_database WHERE datname = %(n)s "
                    "OR datname LIKE %(prefix)s",
                    {"n": PG_DATABASE, "prefix": f"{PG_DATABASE}\\_%"},
                ).scalars()
            )
            for name in names:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
    return names


def checkpoint() -> None:
    """Have the PostgreSQL server write its dirty buffers out now (nothing without a server)."""
    if not postgres_available():
        return
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("CHECKPOINT")
    finally:
        admin.dispose()


def vacuum_analyze(engine: Engine) -> None:
    """Refresh planner statistics after a bulk load (what autovacuum would do in production)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def psql(sql: str, database: str = PG_DATABASE) -> str:
    """Run one statement through psql (for EXPLAIN output in notes)."""
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-tAc", sql],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
