"""WalCheckpointer: SQLite's write-ahead log copied into the database, on a timer of its own."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)
INTERVAL_S = 0.5
Between = Callable[[Callable[[], Any]], Any]  # runs a function between the writer's commits


class WalCheckpointer:
    """Run a PASSIVE checkpoint every `interval` seconds on a connection of its own.

    Left to itself, SQLite checkpoints inside the commit that takes the log past
    `wal_autocheckpoint` pages (engine.py): that commit copies the whole log back (30-45 ms
    with a stream of 1,000 messages a second) and every write queued behind it waits as long.
    A PASSIVE checkpoint copies what it can without waiting for writers or readers and holds
    no lock a writer needs, and the sqlite3 module lets go of the GIL meanwhile.

    Copying is not enough, though: the log starts over from its beginning only when a write
    transaction begins while all of it is copied. Beside a writer that commits a thousand
    times a second that moment never comes, so the log grew until the automatic checkpoint
    copied its last frames inside a commit (10-30 ms, every few seconds). Given `between`, a
    way to run work on the writer's own thread between two of its transactions (the
    applier's `call`), each checkpoint runs there: nothing commits while it copies, so the
    next transaction starts the log over, and the log stays as short as what was written
    between two checkpoints. The automatic checkpoint stays a backstop either way: should the
    timer fall behind, fail or stop, commits checkpoint as they did.
    """

    def __init__(
        self, engine: Engine, interval: float = INTERVAL_S, between: Between | None = None
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.between = between
        self.runs = 0
        self.last: tuple[int, int, int] | None = None  # busy, frames in the log, copied
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing (once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="ordertrail-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop checkpointing and give the connection back."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def checkpoint(self, connection: Any) -> tuple[int, int, int]:
        """Run one PASSIVE checkpoint on a DBAPI connection; return SQLite's answer."""
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            busy, frames, copied = cursor.fetchone()
        finally:
            cursor.close()
        self.runs += 1
        self.last = (int(busy), int(frames), int(copied))
        return self.last

    def _run(self) -> None:
        connection = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    if connection is None:
                        connection = self.engine.raw_connection()
                    if self.between is None:
                        self.checkpoint(connection)
                    else:
                        self.between(functools.partial(self.checkpoint, connection))
                except Exception as error:  # the automatic checkpoint stands in meanwhile
                    log.warning("SQLite checkpoint failed, retrying: %s", error)
                    if connection is not None:
                        with contextlib.suppress(Exception):
                            connection.invalidate()
                        connection = None
        finally:
            if connection is not None:
                connection.close()


@contextlib.contextmanager
def wal_checkpoints(
    engine: Engine, interval: float = INTERVAL_S, between: Between | None = None
) -> Iterator[None]:
    """Checkpoint a file SQLite database beside its writers while the block runs (nothing
    for PostgreSQL, which checkpoints by itself, or an in-memory database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    checkpointer = WalCheckpointer(engine, interval, between)
    checkpointer.start()
    try:
        yield
    finally:
        checkpointer.stop()
