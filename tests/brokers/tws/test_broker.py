"""TwsBroker over real ib_async objects: placing, events, corrections, cancels, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from ib_async import Contract, Execution

from ordertrail.brokers.tws.client import TwsBroker
from ordertrail.brokers.tws.config import TwsConfig
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerError, BrokerRejected, BrokerUnavailable
from ordertrail.ports import Broker, PlaceRequest, StreamConnected
from tests.brokers.ibkr.conftest import Ledger
from tests.fakes.tws import ACCOUNT, FakeTws
from tests.support.eventually import eventually

D = Decimal
SINCE = datetime.now(UTC) - timedelta(days=1)


def request(**fields) -> PlaceRequest:
    values = {
        "client_order_id": "ot-3-ENTRY-20260105T150000000Z",
        "instrument": option_instrument("TSLA", D(250), "C", date(2026, 6, 19)),
        "side": "buy_to_open",
        "quantity": D(10),
        "order_type": "limit",
        "limit_price": D("3.10"),
    }
    values.update(fields)
    return PlaceRequest(**values)


async def placed(broker: TwsBroker, tws: FakeTws) -> tuple[str, int]:
    """Place the default request; its permId (our key) and the orderId TWS knows it by."""
    result = await broker.place(request())
    return result.broker_order_id, tws.by_perm(int(result.broker_order_id)).order_id


class Consumer:
    """Run `broker.stream()` sessions like the watcher and fold what arrives."""

    def __init__(self, broker: TwsBroker) -> None:
        self.broker = broker
        self.ledger = Ledger(ACCOUNT, broker="tws")
        self.connects = 0
        self.drops: list[BrokerError] = []
        self.reports = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            stream = self.broker.stream()
            assert stream is not None
            try:
                async for item in stream:
                    if isinstance(item, StreamConnected):
                        self.connects += 1
                    else:
                        self.reports.append(item)
                    self.ledger.apply(item)
            except BrokerError as error:
                self.drops.append(error)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def consumer(broker: TwsBroker):
    running = Consumer(broker)
    await eventually(lambda: running.connects == 1)
    yield running
    await running.stop()


def test_the_broker_implements_the_port(broker: TwsBroker):
    assert isinstance(broker, Broker) and broker.name == "tws"


async def test_place_sends_our_order_ref_and_returns_the_perm_id(tws: FakeTws, broker: TwsBroker):
    result = await broker.place(request())
    assert result.broker_order_id == "69483056"
    [(contract, order, _perm)] = tws.orders.values()
    assert order.orderRef == "ot-3-ENTRY-20260105T150000000Z" and order.account == ACCOUNT
    assert (order.action, order.orderType, order.lmtPrice, order.totalQuantity) == (
        "BUY",
        "LMT",
        3.1,
        10.0,
    )
    assert (contract.secType, contract.strike, contract.right) == ("OPT", 250.0, "C")
    assert contract.lastTradeDateOrContractMonth == "20260619"
    assert any("ot-3-ENTRY" in message for message in tws.messages)  # really encoded
    report = result.report
    assert report is not None and report.status is OrderStatus.PLACED
    assert report.client_order_id == "ot-3-ENTRY-20260105T150000000Z"


async def test_fills_with_a_correction_fold_to_one_fill_per_execution(
    tws: FakeTws, broker: TwsBroker, consumer: Consumer
):
    key, order_id = await placed(broker, tws)
    first = tws.execute(order_id, 3, 3.05)
    tws.execute(order_id, 3, 3.05, exec_id=first.execId[:-2] + "02")  # the correction
    tws.status(order_id, "Submitted", 3, 7, 3.05)
    tws.status(order_id, "Submitted", 3, 7, 3.05)  # repeated callbacks happen
    await eventually(lambda: consumer.ledger.states[key].status is OrderStatus.PARTIAL)
    tws.execute(order_id, 7, 3.10)
    tws.status(order_id, "Filled", 10, 0, 3.085)
    tws.status(order_id, "Submitted", 10, 0, 3.085)  # a late Submitted after Filled
    await eventually(lambda: len(consumer.reports) >= 6)
    state = consumer.ledger.states[key]
    assert state.status is OrderStatus.FILLED and state.filled_quantity == 10
    fills = consumer.ledger.fills[key]
    assert [(f.quantity, f.price) for f in fills] == [(3, D("3.05")), (7, D("3.1"))]
    assert len({f.execution_id for f in fills}) == 2


async def test_fills_missed_while_disconnected_are_reported_after_reconnect(
    tws: FakeTws, broker: TwsBroker, consumer: Consumer
):
    key, order_id = await placed(broker, tws)
    tws.execute(order_id, 4, 3.05)
    await eventually(lambda: len(consumer.ledger.fills[key]) == 1)
    tws.refuse_connections = True
    tws.drop()
    await eventually(lambda: len(consumer.drops) >= 2)  # the drop, then a refused reconnect
    assert all(isinstance(d, BrokerUnavailable) for d in consumer.drops)
    assert "cannot reach TWS" in str(consumer.drops[-1])
    tws.execute(order_id, 6, 3.10, live=False)  # TWS filled the rest while we were away
    tws.refuse_connections = False
    await eventually(lambda: consumer.connects == 2)
    await eventually(lambda: len(consumer.ledger.fills[key]) == 2)
    assert [f.quantity for f in consumer.ledger.fills[key]] == [4, 6]
    reloaded = [r for r in consumer.reports if r.executions and r.source == "stream"]
    assert reloaded[-1].client_order_id == "ot-3-ENTRY-20260105T150000000Z"
    assert len(tws.ib.fills()) == 2  # ib_async reloaded both; only the missing one was new


async def test_cancel_goes_pending_then_cancelled(tws: FakeTws, broker: TwsBroker, consumer):
    tws.holding_cancels = True
    result = await broker.place(request())
    key = result.broker_order_id
    await broker.cancel(key)
    order_id = next(iter(tws.orders))
    assert tws.cancelled == [order_id]
    await eventually(lambda: consumer.ledger.states[key].broker_status == "PendingCancel")
    assert consumer.ledger.states[key].status is OrderStatus.PLACED
    tws.status(order_id, "Cancelled", 0, 10, 0)
    await eventually(lambda: consumer.ledger.states[key].status is OrderStatus.CANCELLED)
    with pytest.raises(BrokerRejected, match="no order with permId 1"):
        await broker.cancel("1")


async def test_refused_order_is_rejected_with_the_tws_text(tws: FakeTws, broker: TwsBroker):
    tws.reject_next = "Order rejected - reason: insufficient buying power"
    with pytest.raises(BrokerRejected, match="insufficient buying power"):
        await broker.place(request())


async def test_unacknowledged_order_is_unavailable(tws: FakeTws):
    tws.auto_ack = False
    broker = TwsBroker(TwsConfig(account_id=ACCOUNT, place_timeout_s=0.2), ib=tws.ib)
    with pytest.raises(BrokerUnavailable, match="orderRef"):
        await broker.place(request(order_type="market", limit_price=None))
    [(_, trade)] = tws.ib.wrapper.trades.items()
    assert trade.order.orderRef == request().client_order_id  # findable later by its ref


async def test_list_and_get_orders_include_fills_whose_trade_is_gone(
    tws: FakeTws, broker: TwsBroker
):
    result = await broker.place(request(instrument=Instrument("AAPL"), side="sell"))
    order_id = next(iter(tws.orders))
    tws.execute(order_id, 10, 190.0)
    tws.status(order_id, "Filled", 10, 0, 190.0)
    [report] = await broker.list_orders(SINCE)
    assert report.broker_order_id == result.broker_order_id
    assert report.status is OrderStatus.FILLED and len(report.executions) == 1
    tws.ib.wrapper.trades.clear()  # a filled parent gone from the trades list
    [orphan] = await broker.list_orders(SINCE)
    assert orphan.status is None and orphan.client_order_id == request().client_order_id
    looked_up = await broker.get_order(result.broker_order_id)
    assert looked_up is not None and looked_up.executions == orphan.executions
    assert await broker.get_order("12345") is None


async def test_an_order_filled_while_disconnected_comes_back_with_its_filled_quantity(
    tws: FakeTws, broker: TwsBroker
):
    # ib_async reloads a finished order as a completed order: its status row says 0 filled
    # and 0 remaining, only the order carries what filled. Reported as 0 filled, the reload
    # was stale and the order's "Filled" never reached the database.
    result = await broker.place(request(instrument=Instrument("AAPL")))
    order_id = next(iter(tws.orders))
    tws.fill(order_id, D(4), D("190"))
    tws.drop()
    tws.fill(order_id, D(6), D("191"))  # TWS filled the rest while we were away
    tws.connect()
    [trade] = tws.ib.trades()
    assert (trade.orderStatus.status, trade.orderStatus.filled) == ("Filled", 0.0)
    [report] = await broker.list_orders(SINCE)
    assert report.broker_order_id == result.broker_order_id
    assert (report.status, report.broker_status) == (OrderStatus.FILLED, "Filled")
    assert (report.filled_quantity, report.remaining_quantity) == (10, 0)
    assert report.avg_fill_price is None  # not said: the executions carry the prices
    assert sorted(e.quantity for e in report.executions) == [4, 6]


async def test_requests_tws_cannot_take_are_refused(broker: TwsBroker, tws: FakeTws):
    with pytest.raises(BrokerRejected):
        await broker.place(request(side="exercise"))
    assert tws.orders == {}


def test_importing_the_adapter_does_not_import_ib_async():
    code = (
        "import sys, ordertrail.brokers.tws.client, ordertrail.brokers.tws.parsing;"
        "assert 'ib_async' not in sys.modules, 'ib_async imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_an_inactive_order_without_fills_turns_rejected_after_its_grace(tws: FakeTws):
    clock = FakeClock(datetime.now(UTC))
    config = TwsConfig(account_id=ACCOUNT, place_timeout_s=2.0, inactive_grace_s=60)
    broker = TwsBroker(config, ib=tws.ib, clock=clock)
    try:
        result = await broker.place(request())
        order_id = next(iter(tws.orders))
        tws.status(order_id, "Inactive", 0, 10, 0)  # no error text: maybe only parked
        [parked] = await broker.list_orders(SINCE)
        assert parked.status is OrderStatus.PLACED and "inactive" in parked.flags
        clock.advance(59)
        [still] = await broker.list_orders(SINCE)
        assert still.status is OrderStatus.PLACED
        clock.advance(2)
        [given_up] = await broker.list_orders(SINCE)
        assert given_up.status is OrderStatus.REJECTED
        assert given_up.reason == "Inactive for 60 s without fills"
        looked_up = await broker.get_order(result.broker_order_id)
        assert looked_up is not None and looked_up.status is OrderStatus.REJECTED
        tws.status(order_id, "Submitted", 0, 10, 0)  # revived: working again, grace reset
        [revived] = await broker.list_orders(SINCE)
        assert revived.status is OrderStatus.PLACED and not revived.flags
    finally:
        await broker.aclose()


async def test_fills_of_trades_from_outside_ib_name_no_order_and_are_left_out(
    tws: FakeTws, broker: TwsBroker
):
    # permId 0 and no orderRef: no later list could find their order again.
    await broker.place(request(instrument=Instrument("AAPL"), side="sell"))
    order_id = next(iter(tws.orders))
    tws.execute(order_id, 10, 190.0)
    contract = Contract(secType="STK", symbol="AAPL", exchange="SMART", currency="USD")
    for n in (1, 2):
        outside = Execution(
            execId=f"0000f00d.0000{n}.01.01",
            time=datetime.now(UTC),
            acctNumber=ACCOUNT,
            side="BOT",
            shares=5,
            price=188.0,
            permId=0,
            orderRef="",
        )
        tws.day_executions.append((contract, outside))
    tws.drop()
    tws.connect()  # ib_async reloads the day's executions, these two included
    assert len(tws.ib.fills()) == 3
    for _ in range(2):
        reports = await broker.list_orders(SINCE)
        assert reports and all(r.broker_order_id or r.client_order_id for r in reports)
        assert {e.execution_id for r in reports for e in r.executions} == {
            e.execId.rsplit(".", 1)[0] for _c, e in tws.day_executions[:1]
        }


async def test_fills_after_info_error_10349_are_kept_and_a_full_fill_ends_it_filled(
    tws: FakeTws, broker: TwsBroker, consumer: Consumer
):
    # After info 10349 ib_async wrongly marks the live order Cancelled; TWS goes on filling it.
    key, order_id = await placed(broker, tws)
    tws.error(order_id, 10349, "Order TIF was set to DAY based on order preset.")
    await eventually(lambda: consumer.ledger.states[key].status is OrderStatus.CANCELLED)
    tws.execute(order_id, 4, 3.05)
    tws.status(order_id, "Submitted", 4, 6, 3.05)
    await eventually(lambda: len(consumer.ledger.fills[key]) == 1)
    assert consumer.ledger.states[key].filled_quantity == 4  # kept, whatever the status says
    tws.execute(order_id, 6, 3.10)
    tws.status(order_id, "Filled", 10, 0, 3.08)
    await eventually(lambda: consumer.ledger.states[key].status is OrderStatus.FILLED)
    assert [(f.quantity, f.price) for f in consumer.ledger.fills[key]] == [
        (4, D("3.05")),
        (6, D("3.1")),
    ]


async def test_a_fill_during_pending_cancel_then_filled_ends_filled(
    tws: FakeTws, broker: TwsBroker, consumer: Consumer
):
    tws.holding_cancels = True
    key, order_id = await placed(broker, tws)
    await broker.cancel(key)
    await eventually(lambda: consumer.ledger.states[key].broker_status == "PendingCancel")
    tws.execute(order_id, 10, 3.10)
    tws.status(order_id, "Filled", 10, 0, 3.10)
    await eventually(lambda: consumer.ledger.states[key].status is OrderStatus.FILLED)
    assert [(f.quantity, f.price) for f in consumer.ledger.fills[key]] == [(10, D("3.1"))]


async def test_fills_while_tws_lost_ib_are_re_read_once_it_is_back(
    tws: FakeTws, broker: TwsBroker, consumer: Consumer
):
    # 1100: TWS lost IB but the API socket stays up; executions made meanwhile come as no
    # event. Once 1102 says it is back, they are asked for again and reported.
    key, order_id = await placed(broker, tws)
    tws.execute(order_id, 4, 3.05)
    await eventually(lambda: len(consumer.ledger.fills[key]) == 1)
    tws.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
    tws.execute(order_id, 6, 3.10, live=False)
    await asyncio.sleep(0.05)
    assert len(consumer.ledger.fills[key]) == 1  # nothing told us
    tws.error(-1, 1102, "Connectivity between IB and TWS has been restored - data maintained.")
    await eventually(lambda: len(consumer.ledger.fills[key]) == 2)
    assert [(f.quantity, f.price) for f in consumer.ledger.fills[key]] == [
        (4, D("3.05")),
        (6, D("3.1")),
    ]
    assert consumer.connects == 2  # announced as a fresh session: the watcher reconciles
    assert not consumer.drops


async def test_executions_never_re_read_after_1102_leave_the_session_up(
    tws: FakeTws, caplog: pytest.LogCaptureFixture
):
    tws.answers_executions = False
    config = TwsConfig(account_id=ACCOUNT, place_timeout_s=2.0, connect_timeout_s=0.2)
    broker = TwsBroker(config, ib=tws.ib)
    consumer = Consumer(broker)
    try:
        await eventually(lambda: consumer.connects == 1)
        tws.error(-1, 1102, "Connectivity between IB and TWS has been restored - data maintained.")
        await eventually(lambda: "could not be re-read after 1102" in caplog.text)
        assert consumer.connects == 1 and not consumer.drops  # polling carries on as before
    finally:
        await consumer.stop()
        await broker.aclose()
