"""How the apply path finds the order a report names."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.settings import Settings
from ordertrail.storage.tables import orders


@pytest.fixture
def app(database_url: str, clock: FakeClock) -> Iterator[App]:
    app = bootstrap(Settings(database_url=database_url), clock=clock, brokers={})
    yield app
    app.applier.close()
    app.engine.dispose()


def _report(**kw: object) -> OrderReport:
    base: dict[str, object] = {"broker": "tws", "account_id": "U1", "instrument": Instrument("SPY")}
    return OrderReport(**(base | kw))  # type: ignore[arg-type]


async def test_an_external_order_seen_first_without_a_broker_id_is_not_adopted_twice(
    app: App,
) -> None:
    early = _report(
        broker_order_id=None,
        client_order_id="manual-7",
        derives_fills=False,
        executions=(Execution("e1", D(1), D(400)),),
    )
    later = _report(
        broker_order_id="991",
        client_order_id="manual-7",
        status=OrderStatus.FILLED,
        quantity=D(1),
        filled_quantity=D(1),
        avg_fill_price=D(400),
        derives_fills=False,
    )
    await app.applier.apply([early])
    await app.applier.apply([later])
    with app.engine.connect() as c:
        rows = c.execute(select(orders.c.broker_order_id, orders.c.status)).all()
    assert [tuple(r) for r in rows] == [("991", "FILLED")]


async def test_a_reused_tag_on_another_broker_order_is_a_second_external_order(app: App) -> None:
    first = _report(
        broker="tradier",
        broker_order_id="1",
        client_order_id="strategyA",
        status=OrderStatus.PLACED,
    )
    second = _report(
        broker="tradier",
        broker_order_id="2",
        client_order_id="strategyA",
        status=OrderStatus.PLACED,
    )
    await app.applier.apply([first, second])
    await app.applier.apply([second, first])
    with app.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(orders)).scalar() == 2


async def test_a_report_naming_no_order_is_left_out_never_adopted(app: App) -> None:
    # Nothing could find such an order again: adopting it would adopt it anew (with its
    # fills) at every poll.
    unnamed = _report(
        broker_order_id=None,
        client_order_id=None,
        derives_fills=False,
        executions=(Execution("outside-1", D(5), D(188)),),
    )
    for _ in range(2):
        result = await app.applier.apply([unnamed])
        assert (result.unnamed, result.applied, result.orders_created) == (1, 0, 0)
    with app.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(orders)).scalar() == 0
