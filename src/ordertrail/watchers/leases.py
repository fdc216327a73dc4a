"""Leases on accounts: PostgreSQL advisory locks across workers, a lock file on SQLite."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

from ordertrail.errors import ConfigurationError

log = logging.getLogger(__name__)
APPLICATION_NAME = "ordertrail-worker"


class Leases(Protocol):
    """Who may watch which account. Calls block: run them off the event loop."""

    def try_acquire(self, key: str) -> bool: ...
    def release(self, key: str) -> None: ...
    def alive(self) -> bool: ...
    def workers(self) -> int: ...
    def close(self) -> None: ...


def lock_id(key: str) -> int:
    """A stable signed 64-bit advisory lock id for an account key (`tradier:VA123`)."""
    digest = hashlib.blake2b(f"ordertrail:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLeases:
    """Session advisory locks on one dedicated connection: they die with it, so a killed
    worker's accounts are free as soon as PostgreSQL sees its connection close."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self.held: set[str] = set()

    def _conn(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text(f"SET application_name = '{APPLICATION_NAME}'"))
            self._connection = connection
        return self._connection

    def workers(self) -> int:
        """How many workers of this database hold a lease connection now (this one included)."""
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = :name AND datname = current_database()"
        )
        return max(1, int(self._conn().execute(query, {"name": APPLICATION_NAME}).scalar_one()))

    def try_acquire(self, key: str) -> bool:
        query = text("SELECT pg_try_advisory_lock(:id)")
        got = bool(self._conn().execute(query, {"id": lock_id(key)}).scalar())
        if got:
            self.held.add(key)
        return got

    def release(self, key: str) -> None:
        if key in self.held and self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id(key)})
        self.held.discard(key)

    def alive(self) -> bool:
        """Check the lock connection; if it broke, every lease is gone."""
        if self._connection is None:
            return True
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except Exception as error:  # the connection is gone, and the locks with it
            log.warning("lease connection lost (%s); every account lease is released", error)
            self.close()
            return False

    def close(self) -> None:
        self.held.clear()
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # closing a dead connection may fail; nothing is held any more
                log.debug("closing the lease connection failed", exc_info=True)
            self._connection = None


class SingleWorkerLease:
    """SQLite holds one writer process: the first worker takes a lock file, a second refuses."""

    def __init__(self, database: str | None) -> None:
        self._file: IO[str] | None = None
        if not database or database == ":memory:":
            return
        path = Path(database).resolve().with_name(Path(database).name + ".worker.lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigurationError(
                f"another ordertrail worker ({holder}) is already watching accounts on the "
                f"SQLite database {database}. SQLite allows one; stop it, or use PostgreSQL "
                "(ORDERTRAIL_DATABASE_URL=postgresql://...) to run several workers."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._file = handle

    def try_acquire(self, key: str) -> bool:
        return True

    def release(self, key: str) -> None:
        return None

    def alive(self) -> bool:
        return True

    def workers(self) -> int:
        return 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def leases_for(engine: Engine) -> Leases:
    """Advisory locks on PostgreSQL, the single-worker lock file on SQLite."""
    if engine.dialect.name == "postgresql":
        return PostgresLeases(engine)
    return SingleWorkerLease(engine.url.database)
