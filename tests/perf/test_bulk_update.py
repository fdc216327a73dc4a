"""`update_rows` sets many rows' columns at once and leaves exactly what `UPDATE` would."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from sqlalchemy import Engine, event, select

from ordertrail.storage.bulk import update_rows
from ordertrail.storage.tables import orders
from ordertrail.storage.types import Codec

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _sent(statements: list[str]) -> list[str]:
    """The statements but SQLite's BEGIN (sent by the engine, not by `update_rows`)."""
    return [s for s in statements if not s.startswith("BEGIN")]


def _order(n: int) -> dict[str, object]:
    return {
        "broker": "tradier",
        "account_id": "VA1",
        "broker_order_id": str(n),
        "external": True,
        "status": "PLACED",
        "filled_quantity": D(0),
        "quantity": D(10),
        "flags": [],
        "event_seq": 1,
        "created_at": T0,
        "updated_at": T0,
    }


def test_sets_every_kind_of_column_on_each_row_in_one_statement(engine: Engine) -> None:
    codec = Codec(engine.dialect.name)
    with engine.begin() as connection:
        connection.execute(orders.insert(), [_order(n) for n in range(1, 6)])
    later = datetime(2026, 3, 2, 15, 45, 1, 123456, tzinfo=UTC)
    names = ("status", "filled_quantity", "avg_fill_price", "external", "event_seq")
    names += ("reason", "flags", "last_broker_ts", "updated_at")
    rows = [
        (
            "PARTIAL",
            codec.money(D("2.5")),
            codec.money(D("1.123456789012")),  # twelve places: what the column keeps
            False,
            7,
            'quote "it" \\ done',  # quotes and backslashes survive the JSON trip
            '["odd"]',
            codec.when(later),
            codec.when(later),
            2,
        ),
        ("FILLED", codec.money(D(10)), None, True, 3, None, "[]", None, codec.when(T0), 4),
    ]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as connection:
        update_rows(connection, orders, names, rows, codec)
    assert len(_sent(statements)) == 1  # executemany on SQLite, one joined UPDATE on PostgreSQL
    with engine.connect() as connection:
        found = {r.id: r for r in connection.execute(select(orders).order_by(orders.c.id))}
    two, four = found[2], found[4]
    assert (two.status, two.filled_quantity, two.avg_fill_price) == (
        "PARTIAL",
        D("2.5"),
        D("1.123456789012"),
    )
    assert (two.external, two.event_seq, two.reason) == (False, 7, 'quote "it" \\ done')
    assert two.flags == ["odd"]
    assert two.last_broker_ts == later and two.updated_at == later
    assert (four.status, four.filled_quantity, four.avg_fill_price) == ("FILLED", D(10), None)
    assert (four.external, four.event_seq, four.reason, four.last_broker_ts) == (
        True,
        3,
        None,
        None,
    )
    for untouched in (1, 3, 5):  # rows not named keep what they had
        row = found[untouched]
        assert (row.status, row.filled_quantity, row.event_seq) == ("PLACED", D(0), 1)
        assert row.updated_at == T0


def test_nothing_to_update_sends_nothing(engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.begin() as connection:
        update_rows(connection, orders, ("status",), [], Codec(engine.dialect.name))
    assert _sent(statements) == []
