"""Statements sent straight to the driver: announced to listeners, errors as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError

from ordertrail.storage import driver
from ordertrail.storage.tables import sync_state
from ordertrail.storage.types import Codec

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _insert(codec: Codec) -> str:
    return codec.insert(sync_state, ("broker", "account_id", "updated_at"))


def test_driver_statements_are_announced_before_and_after_with_their_parameters(
    engine: Engine,
) -> None:
    seen: list[tuple[str, str, Any, bool]] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(("before", *a[2:4], a[5])))
    event.listen(engine, "after_cursor_execute", lambda *a: seen.append(("after", *a[2:4], a[5])))
    codec = Codec(engine.dialect.name)
    when = codec.when(T0)
    insert = _insert(codec)
    rows = [("tradier", "VA1", when), ("tradier", "VA2", when)]
    with engine.connect() as connection, connection.begin():
        seen.clear()  # the BEGIN is announced too
        driver.run_many(connection, insert, rows)
        found = driver.rows(connection, "SELECT account_id FROM sync_state ORDER BY account_id")
    assert [tuple(row) for row in found] == [("VA1",), ("VA2",)]
    assert seen[:2] == [("before", insert, rows, True), ("after", insert, rows, True)]
    assert [(s[0], s[3]) for s in seen[2:]] == [("before", False), ("after", False)]


def test_a_refused_row_raises_sqlalchemy_integrity_error_and_the_transaction_rolls_back(
    engine: Engine,
) -> None:
    codec = Codec(engine.dialect.name)
    insert, when = _insert(codec), codec.when(T0)
    with engine.connect() as connection:
        with connection.begin():
            driver.run(connection, insert, ("tradier", "VA1", when))
        with pytest.raises(IntegrityError, match="sync_state"), connection.begin():
            driver.run(connection, insert, ("tradier", "VA9", when))
            driver.run(connection, insert, ("tradier", "VA1", when))
        left = driver.rows(connection, "SELECT account_id FROM sync_state")
        connection.rollback()
    assert [tuple(row) for row in left] == [("VA1",)]


def test_a_statement_the_database_cannot_run_names_itself_in_the_error(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(DBAPIError) as caught:
        driver.rows(connection, "SELECT no_such_column FROM sync_state")
    assert "no_such_column" in str(caught.value)
    assert caught.value.statement == "SELECT no_such_column FROM sync_state"
