"""The writer thread's kept connection (HeldUnits): one checkout for many transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services.applier import Applier
from ordertrail.storage.tables import orders
from ordertrail.storage.uow import HeldUnits, SqlUnitOfWork


def _report(broker_id: str, status: OrderStatus = OrderStatus.PLACED) -> OrderReport:
    return OrderReport(
        broker="tradier",
        account_id="VA1",
        broker_order_id=broker_id,
        status=status,
        broker_status=status.value.lower(),
        quantity=D(2),
        instrument=Instrument("SPY"),
    )


@pytest.fixture
def kept(engine: Engine) -> Iterator[tuple[HeldUnits, Applier]]:
    """An applier whose writer thread keeps its connection, closed after the test."""
    held = HeldUnits(engine)
    applier = Applier(lambda: SqlUnitOfWork(engine), FakeClock(), writer_units=held)
    yield held, applier
    applier.close()


def _checkouts(engine: Engine) -> list[int]:
    seen: list[int] = []

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        seen.append(id(dbapi_connection))

    event.listen(engine, "checkout", checkout)
    return seen


def _orders(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(orders)).scalar_one())


async def test_the_writer_thread_takes_one_connection_for_all_its_transactions(
    engine: Engine, kept: tuple[HeldUnits, Applier]
) -> None:
    held, applier = kept
    checkouts = _checkouts(engine)
    for n in range(5):  # one at a time: five transactions
        await applier.apply([_report(f"H-{n}")])
    assert applier.transactions == 5
    assert len(checkouts) == 1
    connection = held.connection()
    assert not connection.closed and not connection.in_transaction()
    applier.close()
    assert connection.closed  # given back on the writer thread when it stopped
    assert _orders(engine) == 5


async def test_a_connection_invalidated_is_replaced_and_nothing_is_lost(
    engine: Engine, kept: tuple[HeldUnits, Applier]
) -> None:
    held, applier = kept
    await applier.apply([_report("I-1")])
    first = held.connection()
    first.invalidate()  # as SQLAlchemy does when the driver says the connection is gone
    result = await applier.apply([_report("I-1", OrderStatus.CANCELLED), _report("I-2")])
    assert held.connection() is not first
    assert result.applied == 2
    assert _orders(engine) == 2


async def test_a_failed_transaction_leaves_the_kept_connection_usable(
    engine: Engine, kept: tuple[HeldUnits, Applier]
) -> None:
    held, applier = kept
    await applier.apply([_report("F-1")])
    broken = OrderReport(broker="tradier", account_id="VA1", broker_order_id="F-2")
    object.__setattr__(broken, "flags", None)  # not iterable: the apply raises mid-transaction
    with pytest.raises(TypeError):
        await applier.apply([broken])
    # Left inside its transaction, the kept connection would refuse the next BEGIN.
    await asyncio.wait_for(applier.apply([_report("F-3")]), 10)
    assert not held.connection().in_transaction()
    assert _orders(engine) == 2
