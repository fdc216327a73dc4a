"""Orders keep the totals of their fills, so a new execution never reads the ones before it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services.apply import apply_reports
from ordertrail.storage import driver, migrate
from ordertrail.storage.engine import make_engine
from ordertrail.storage.tables import fills, orders
from ordertrail.storage.uow import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _execution(order_id: str, n: int, quantity: D, price: str) -> OrderReport:
    return OrderReport(
        broker="ibkr",
        account_id="U1",
        broker_order_id=order_id,
        status=OrderStatus.PARTIAL,
        quantity=D(1000),
        instrument=Instrument("SPY"),
        executions=(Execution(f"{order_id}.{n:04d}", quantity, D(price), T0),),
        derives_fills=False,
        source="stream",
    )


def _totals(engine: Engine) -> dict[str, tuple[D, D, D, D | None]]:
    """Per broker order id: kept quantity and value, filled quantity and average price."""
    with engine.connect() as c:
        rows = c.execute(
            select(
                orders.c.broker_order_id,
                orders.c.fills_quantity,
                orders.c.fills_value,
                orders.c.filled_quantity,
                orders.c.avg_fill_price,
            )
        )
        return {row[0]: tuple(row[1:]) for row in rows}  # type: ignore[misc]


def _summed(engine: Engine) -> dict[str, tuple[D, D]]:
    with engine.connect() as c:
        rows = c.execute(
            select(orders.c.broker_order_id, fills.c.quantity, fills.c.price).join(
                orders, orders.c.id == fills.c.order_id
            )
        )
        found: dict[str, tuple[D, D]] = {}
        for broker_id, quantity, price in rows:
            q, v = found.get(broker_id, (D(0), D(0)))
            found[broker_id] = (q + quantity, v + quantity * price)
        return found


def test_fill_totals_follow_every_execution_across_transactions_and_repeats(
    engine: Engine, clock: FakeClock
) -> None:
    reports = [_execution("7", n, D(n % 3 + 1), f"1.{n:02d}") for n in range(30)]
    reports += [_execution("8", n, D(2), "3.5") for n in range(5)]
    for start in range(0, len(reports), 4):  # several transactions, each a few executions
        apply_reports(SqlUnitOfWork(engine), reports[start : start + 4], clock)
    again = apply_reports(SqlUnitOfWork(engine), reports[::3], clock)  # the stream repeats

    assert again.applied == 0 and again.fills == 0
    totals, summed = _totals(engine), _summed(engine)
    for broker_id in ("7", "8"):
        quantity, value, filled, avg = totals[broker_id]
        assert (quantity, value) == summed[broker_id]
        assert filled == quantity
        assert avg is not None and abs(avg - value / quantity) < D("1e-11")  # the VWAP


def test_an_execution_reads_only_the_fills_it_names_however_many_the_order_has(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = [_execution("7", n, D(1), "2.5") for n in range(200)]
    apply_reports(SqlUnitOfWork(engine), history, clock)
    read: list[int] = []
    real_rows = driver.rows

    def counting(connection: Any, statement: str, params: Any = ()) -> list[Any]:
        found = real_rows(connection, statement, params)
        if " FROM fills" in statement:
            read.append(len(found))
        return found

    monkeypatch.setattr(driver, "rows", counting)
    repeated = apply_reports(SqlUnitOfWork(engine), [history[17], history[150]], clock)
    fresh = apply_reports(SqlUnitOfWork(engine), [_execution("7", 200, D(1), "2.5")], clock)

    assert repeated.fills == 0 and fresh.fills == 1
    assert read == [2, 0], "the two executions named, then none: never the order's 200"
    quantity, value, filled, _ = _totals(engine)["7"]
    assert (quantity, value, filled) == (D(201), D("502.5"), D(201))


def test_upgrading_keeps_the_totals_of_fills_recorded_before(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0005")
    now = "2026-03-02 14:30:00"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO orders (id, broker, account_id, broker_order_id, external, status,"
                " filled_quantity, flags, event_seq, created_at, updated_at) VALUES"
                " (1, 'ibkr', 'U1', '7', true, 'PARTIAL', '3', '[]', 1, :now, :now),"
                " (2, 'ibkr', 'U1', '8', true, 'PLACED', '0', '[]', 1, :now, :now)"
            ),
            {"now": now},
        )
        c.execute(
            text(
                "INSERT INTO fills (order_id, broker, account_id, execution_id, quantity, price,"
                " synthetic, recorded_at) VALUES"
                " (1, 'ibkr', 'U1', 'e1', '1', '2.25', false, :now),"
                " (1, 'ibkr', 'U1', 'e2', '2', '0.123456789', false, :now)"
            ),
            {"now": now},
        )
    migrate.upgrade(engine)
    totals = _totals(engine)
    engine.dispose()
    assert totals["7"][:2] == (D(3), D("2.496913578"))
    assert totals["8"][:2] == (D(0), D(0))
