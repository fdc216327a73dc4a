"""A batch costs the same statements at any size; a poll of unchanged orders writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from sqlalchemy import Engine, event

from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services.apply import apply_reports
from ordertrail.storage.uow import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _listed(count: int, start: int) -> list[OrderReport]:
    return [
        OrderReport(
            broker="tradier",
            account_id="VA1",
            broker_order_id=str(start + n),
            client_order_id=f"tag-{start + n}" if n % 3 else None,
            status=OrderStatus.PARTIAL,
            broker_status="partially_filled",
            filled_quantity=D("1.00000000"),
            avg_fill_price=D("2.50000000"),
            quantity=D("4.00000000"),
            remaining_quantity=D("3.00000000"),
            limit_price=D("2.6"),
            instrument=Instrument("SPY"),
            broker_ts=T0,
        )
        for n in range(count)
    ]


def _statements(engine: Engine, reports: list[OrderReport]) -> list[str]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        apply_reports(SqlUnitOfWork(engine), reports, FakeClock())
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


def test_a_poll_of_unchanged_orders_costs_the_same_few_statements_at_any_size(
    engine: Engine,
) -> None:
    small, large = _listed(40, 1000), _listed(1200, 5000)
    for reports in (small, large):
        apply_reports(SqlUnitOfWork(engine), reports, FakeClock())
    later = T0 + timedelta(seconds=5)  # listed again: nothing moved
    small_again = _statements(engine, [replace(r, broker_ts=later) for r in small])
    large_again = _statements(engine, [replace(r, broker_ts=later) for r in large])
    assert small_again == large_again
    assert [s for s in large_again if s not in ("BEGIN", "SELECT")] == []
    assert large_again.count("SELECT") == 1


def test_applying_a_batch_costs_the_same_statements_at_any_size(engine: Engine) -> None:
    small = _statements(engine, _listed(40, 1000))
    large = _statements(engine, _listed(1200, 5000))
    assert small == large
