"""Statements sent straight to the database driver inside a SQLAlchemy connection's transaction.

The apply path runs a handful of statements per transaction whose SQL it builds once and whose
rows it reads by position. Going through `Connection.exec_driver_sql` costs about 40 µs a
statement on top of the driver's own 10 µs (result metadata, processors, contexts): on a
stream message's transaction that is more than all the rest. These helpers call the driver's
cursor directly and still announce each statement to the engine's `before_cursor_execute` and
`after_cursor_execute` listeners, so whatever counts or times statements sees them all. A
driver error comes out as SQLAlchemy's `DBAPIError` family, and a connection the error shows
to be gone is invalidated, as `exec_driver_sql` would do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def rows(connection: Connection, statement: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run a query; return its rows as the driver gives them (tuples)."""
    with _cursor(connection, statement, params, many=False) as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall())


def run(connection: Connection, statement: str, params: Sequence[Any] = ()) -> None:
    """Run one statement that returns no rows."""
    with _cursor(connection, statement, params, many=False) as cursor:
        cursor.execute(statement, params)


def run_many(connection: Connection, statement: str, params: Sequence[Sequence[Any]]) -> None:
    """Run one statement once per parameter row (the driver's `executemany`)."""
    with _cursor(connection, statement, params, many=True) as cursor:
        cursor.executemany(statement, params)


@contextmanager
def announced(connection: Connection, statement: str, params: Any) -> Iterator[Any]:
    """A driver cursor for work the helpers above cannot express (PostgreSQL's COPY),
    announced to the engine's cursor listeners like any statement."""
    with _cursor(connection, statement, params, many=True) as cursor:
        yield cursor


@contextmanager
def _cursor(connection: Connection, statement: str, params: Any, many: bool) -> Iterator[Any]:
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    dispatch = connection.dispatch
    try:
        dispatch.before_cursor_execute(connection, cursor, statement, params, None, many)
        try:
            yield cursor
        except connection.dialect.loaded_dbapi.Error as error:
            gone = connection.dialect.is_disconnect(error, dbapi, cursor)
            if gone:
                connection.invalidate(error)
            raise DBAPIError.instance(
                statement,
                params,
                error,
                connection.dialect.loaded_dbapi.Error,
                connection_invalidated=gone,
                dialect=connection.dialect,
            ) from error
        dispatch.after_cursor_execute(connection, cursor, statement, params, None, many)
    finally:
        cursor.close()
