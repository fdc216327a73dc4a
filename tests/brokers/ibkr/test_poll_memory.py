"""What the IBKR adapter keeps between polls: unchanged rows are not parsed again, and an
execution is left out of later polls only once a committed transaction has recorded it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import func, select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.ibkr import IbkrBroker
from ordertrail.brokers.ibkr.memory import PollMemory
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.services import applier as applier_module
from ordertrail.services.sync import sync_account
from ordertrail.settings import Settings
from ordertrail.storage.tables import fills
from tests.brokers.ibkr.conftest import StreamRunner
from tests.fakes.ibkr import FakeIbkrGateway
from tests.support.eventually import eventually

SINCE = datetime.now(UTC) - timedelta(days=1)


def _executions(reports: Sequence[OrderReport]) -> list[str]:
    return sorted(e.execution_id for r in reports for e in r.executions)


def _by_id(reports: Sequence[OrderReport]) -> dict[str | None, OrderReport]:
    return {r.broker_order_id: r for r in reports}


async def test_an_unchanged_order_row_gives_back_the_report_parsed_before(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    quiet, busy = gateway.create_orders(2, symbol="SPY", quantity=10, price="1.25")
    first = _by_id(await broker.list_orders(SINCE))
    gateway.fill(busy, 1, "1.25")
    second = _by_id(await broker.list_orders(SINCE))
    assert second[str(quiet)] is first[str(quiet)]
    assert second[str(busy)] is not first[str(busy)]
    assert second[str(busy)].filled_quantity == 1
    assert first[str(busy)].filled_quantity == 0


async def test_an_unchanged_order_is_the_same_report_though_finishing_builds_it_anew(
    gateway: FakeIbkrGateway, gateway_broker_factory: Any
):
    broker = gateway_broker_factory(inactive_grace_s=0.0)
    try:
        gateway.create_order(symbol="SPY", status="Inactive")
        [first] = await broker.list_orders(SINCE)
        [second] = await broker.list_orders(SINCE)
    finally:
        await broker.aclose()
    assert first.status is OrderStatus.REJECTED  # the grace is over: rebuilt on every list
    assert second is first


async def test_executions_are_left_out_of_polls_only_once_committed(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    [order] = gateway.create_orders(1, symbol="SPY", quantity=10, price="1.25")
    done = gateway.fill(order, 2, "1.25") + gateway.fill(order, 3, "1.25")
    polled = await broker.list_orders(SINCE)
    assert _executions(polled) == sorted(done)
    assert _executions(await broker.list_orders(SINCE)) == sorted(done)  # nothing committed

    broker.committed(polled)
    [later] = gateway.fill(order, 1, "1.30")
    [report] = await broker.list_orders(SINCE)
    assert _executions([report]) == [later]
    assert report.filled_quantity == 6  # the row still says everything


async def test_reports_of_other_accounts_mark_nothing(gateway: FakeIbkrGateway, broker: IbkrBroker):
    [order] = gateway.create_orders(1, symbol="SPY", quantity=10, price="1.25")
    gateway.fill(order, 2, "1.25")
    polled = await broker.list_orders(SINCE)
    broker.committed([_elsewhere(r) for r in polled])
    assert len(_executions(await broker.list_orders(SINCE))) == 1


def _elsewhere(report: OrderReport) -> OrderReport:
    return OrderReport(
        broker="ibkr",
        account_id="DU9999999",
        broker_order_id=report.broker_order_id,
        executions=report.executions,
    )


def test_ids_the_latest_trades_answer_no_longer_holds_are_forgotten():
    memory = PollMemory("ibkr", "DU1")
    rows = [{"execution_id": "e1"}, {"execution_id": "e2"}]
    report = OrderReport(
        broker="ibkr",
        account_id="DU1",
        broker_order_id="1",
        executions=(Execution("e1", D(1), D(1)), Execution("e2", D(1), D(1))),
    )
    memory.committed([report])
    assert memory.new_trades(rows) == []
    assert memory.new_trades(rows[1:]) == []  # e1 is no longer listed: forgotten
    assert memory.new_trades(rows) == [rows[0]]  # so when it comes back it is reported


async def _streaming(gateway: FakeIbkrGateway, broker: IbkrBroker) -> StreamRunner:
    runner = StreamRunner(broker).start()
    await eventually(lambda: runner.connects == 1 and broker.poll.streaming)
    return runner


async def test_while_streaming_the_trades_are_asked_for_only_if_the_list_shows_news(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    runner = await _streaming(gateway, broker)
    try:
        [order] = gateway.create_orders(1, symbol="SPY", quantity=10, price="1.25")
        [first] = gateway.fill(order, 3, "1.25")
        await eventually(lambda: first in runner.executions())
        broker.committed(runner.reports())  # the stream's messages were applied
        asked = gateway.calls["trades"]
        polled = await broker.list_orders(SINCE)  # the connection's first poll asks anyway
        assert gateway.calls["trades"] == asked + 1 and _executions(polled) == []
        await broker.list_orders(SINCE)
        assert gateway.calls["trades"] == asked + 1  # the list shows nothing unrecorded

        gateway.set(drop_frames=2)  # the stream misses the next fill
        [missed] = gateway.fill(order, 2, "1.30")
        polled = await broker.list_orders(SINCE)
        assert gateway.calls["trades"] == asked + 2 and _executions(polled) == [missed]
        polled = await broker.list_orders(SINCE)  # not committed yet: asked again
        assert gateway.calls["trades"] == asked + 3 and _executions(polled) == [missed]
        broker.committed(polled)
        assert _executions(await broker.list_orders(SINCE)) == []
        assert gateway.calls["trades"] == asked + 3
    finally:
        await runner.stop()


async def test_an_order_gone_from_the_list_or_looked_up_makes_the_poll_ask_for_the_trades(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    runner = await _streaming(gateway, broker)
    try:
        gone, kept = gateway.create_orders(2, symbol="SPY", quantity=10, price="1.25")
        broker.committed(await broker.list_orders(SINCE))
        asked = gateway.calls["trades"]
        gateway.set(drop_frames=3)  # the stream misses all of this
        [missed] = gateway.fill(gone, 4, "1.25")
        gateway.set_status(kept, "Submitted")
        gateway.set(max_rows=1)  # the list keeps the latest order only
        polled = await broker.list_orders(SINCE)
        assert [r.broker_order_id for r in polled] == [str(kept), str(gone)]  # one orphan
        assert gateway.calls["trades"] == asked + 1 and _executions(polled) == [missed]
        broker.committed(polled)
        await broker.list_orders(SINCE)
        assert gateway.calls["trades"] == asked + 1

        await broker.get_order(str(gone))  # an order we hold as working, missing from the list
        asked = gateway.calls["trades"]
        await broker.list_orders(SINCE)
        assert gateway.calls["trades"] == asked + 1
        await broker.list_orders(SINCE)
        assert gateway.calls["trades"] == asked + 1
    finally:
        await runner.stop()


async def test_without_the_stream_every_poll_asks_for_the_trades(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    [order] = gateway.create_orders(1, symbol="SPY", quantity=10, price="1.25")
    gateway.fill(order, 3, "1.25")
    broker.committed(await broker.list_orders(SINCE))
    asked = gateway.calls["trades"]
    await broker.list_orders(SINCE)
    await broker.list_orders(SINCE)
    assert gateway.calls["trades"] == asked + 2


async def test_the_trades_are_asked_for_every_interval_whatever_the_list_shows(
    gateway: FakeIbkrGateway, gateway_broker_factory: Any
):
    broker = gateway_broker_factory(trades_full_interval_s=0.0)
    runner = await _streaming(gateway, broker)
    try:
        asked = gateway.calls["trades"]
        await broker.list_orders(SINCE)
        await broker.list_orders(SINCE)
        assert gateway.calls["trades"] == asked + 2
    finally:
        await runner.stop()
        await broker.aclose()


@pytest.fixture
def app(gateway: FakeIbkrGateway, broker: IbkrBroker, database_url: str) -> Iterator[App]:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings, brokers={f"ibkr:{gateway.account_id}": broker})
    yield app
    app.applier.close()
    app.engine.dispose()


async def test_a_failed_apply_leaves_its_executions_in_the_next_poll(
    app: App, gateway: FakeIbkrGateway, broker: IbkrBroker, monkeypatch: pytest.MonkeyPatch
):
    [order] = gateway.create_orders(1, symbol="SPY", quantity=10, price="1.25")
    done = gateway.fill(order, 2, "1.25") + gateway.fill(order, 3, "1.25")
    real = applier_module.apply_groups

    def refuse(*args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(applier_module, "apply_groups", refuse)
    with pytest.raises(RuntimeError, match="disk full"):
        await sync_account(broker, app.applier, app.uow, app.clock)
    assert _fill_count(app) == 0
    assert _executions(await broker.list_orders(SINCE)) == sorted(done)

    monkeypatch.setattr(applier_module, "apply_groups", real)
    result = await sync_account(broker, app.applier, app.uow, app.clock)
    assert result.fill_events_processed == 2 and _fill_count(app) == 2
    assert _executions(await broker.list_orders(SINCE)) == []  # committed: left out since
    again = await sync_account(broker, app.applier, app.uow, app.clock)
    assert again.applied.applied == 0 and _fill_count(app) == 2


def _fill_count(app: App) -> int:
    with app.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(fills)).scalar_one())
