"""IbkrBroker against the fake gateway over real sockets, folded through the domain's `evolve`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordertrail.brokers.ibkr import IbkrBroker
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument, option_instrument
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerRejected, BrokerUnavailable
from ordertrail.ports import Broker, PlaceRequest
from tests.brokers.ibkr.conftest import Ledger, StreamRunner, config_for
from tests.fakes.ibkr import FakeIbkrGateway
from tests.support.eventually import eventually

D = Decimal
SINCE = datetime.now(UTC) - timedelta(days=1)
TSLA_CALL = 812345678
EXPIRY = date(2026, 6, 19)


def tsla_call() -> Instrument:
    return option_instrument("TSLA", D("250"), "C", EXPIRY, str(TSLA_CALL))


def request(client_order_id: str = "ot-7-ENTRY-20260105T150000000Z", **fields) -> PlaceRequest:
    values = {
        "client_order_id": client_order_id,
        "instrument": tsla_call(),
        "side": "buy_to_open",
        "quantity": D(10),
        "order_type": "limit",
        "limit_price": D("3.10"),
    }
    values.update(fields)
    return PlaceRequest(**values)


@pytest.fixture(autouse=True)
def tsla_option(gateway: FakeIbkrGateway) -> None:
    gateway.add_option(TSLA_CALL, "TSLA", EXPIRY, "250", "C")


def test_the_broker_implements_the_port(broker: IbkrBroker):
    assert isinstance(broker, Broker) and broker.name == "ibkr"


async def test_option_order_with_questions_partially_filled_then_filled_over_the_stream(
    gateway: FakeIbkrGateway, broker: IbkrBroker, runner: StreamRunner
):
    await eventually(lambda: runner.connects == 1)
    gateway.ask_on_next_place("o354", "o163")
    result = await broker.place(request())
    assert gateway.calls["reply"] == 2
    order = gateway.order(int(result.broker_order_id))
    assert order.order_ref == "ot-7-ENTRY-20260105T150000000Z" and order.status == "Submitted"
    assert result.report is not None and result.report.status is OrderStatus.PLACED
    ledger, key = runner.ledger, result.broker_order_id

    await eventually(lambda: ledger.states[key].broker_status == "Submitted")
    [first] = gateway.fill(order.order_id, 3, "3.05")
    await eventually(lambda: len(ledger.fills[key]) == 1)
    await eventually(lambda: ledger.states[key].filled_quantity == 3)
    assert ledger.states[key].status is OrderStatus.PARTIAL
    [second] = gateway.fill(order.order_id, 7, "3.10")
    await eventually(lambda: ledger.states[key].status is OrderStatus.FILLED)
    await eventually(lambda: len(ledger.fills[key]) == 2)

    state = ledger.states[key]
    assert state.filled_quantity == 10 and state.avg_fill_price == D("3.085")
    assert [f.execution_id for f in ledger.fills[key]] == [first, second]
    assert [(f.quantity, f.price) for f in ledger.fills[key]] == [(3, D("3.05")), (7, D("3.10"))]
    streamed = [r for r in runner.reports() if r.broker_order_id == key]
    assert all(r.client_order_id == "ot-7-ENTRY-20260105T150000000Z" for r in streamed)
    assert all(r.derives_fills is False for r in streamed)
    assert all(r.instrument == tsla_call() for r in streamed)

    ledger.apply(await broker.list_orders(SINCE))  # the poll after the stream changes nothing
    assert len(ledger.fills[key]) == 2 and ledger.states[key].filled_quantity == 10


async def test_order_placed_by_hand_is_listed_without_client_id_with_option_details(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    order_id = gateway.create_order(
        symbol="TSLA",
        conid=TSLA_CALL,
        expiry=EXPIRY,
        strike="250",
        right="C",
        quantity=2,
        price="4.20",
        side="SELL",
    )
    [report] = await broker.list_orders(SINCE)
    assert report.broker_order_id == str(order_id) and report.client_order_id is None
    assert report.instrument == tsla_call() and report.instrument.option_symbol == (
        "TSLA260619C00250000"
    )
    assert report.side == "sell" and report.quantity == 2 and report.limit_price == D("4.20")
    assert report.status is OrderStatus.PLACED


async def test_fills_while_the_websocket_is_down_are_found_by_polling(
    gateway: FakeIbkrGateway, gateway_broker_factory
):
    broker = gateway_broker_factory(ws_auth_timeout_s=0.3)
    runner = StreamRunner(broker).start()
    try:
        await eventually(lambda: runner.connects == 1)
        result = await broker.place(request())
        ledger, key = runner.ledger, result.broker_order_id
        gateway.fill(int(key), 3, "3.05")
        await eventually(lambda: len(ledger.fills[key]) == 1)

        gateway.set(accept_cookie=False, accept_session_frame=False)  # reconnects cannot log in
        gateway.drop_websockets()
        await eventually(lambda: runner.drops and gateway.websockets == 0)
        gateway.fill(int(key), 4, "3.06")
        gateway.fill(int(key), 3, "3.07")

        ledger.apply(await broker.list_orders(SINCE))
        assert ledger.states[key].status is OrderStatus.FILLED
        assert ledger.states[key].filled_quantity == 10
        assert len(ledger.fills[key]) == 3
        assert len({f.execution_id for f in ledger.fills[key]}) == 3

        gateway.set(accept_cookie=True, accept_session_frame=True)
        await eventually(lambda: runner.connects == 2)
        await eventually(lambda: gateway.hub.replayed)  # the history came again...
        marker = gateway.create_order(symbol="AAPL", quantity=1, price="190")
        [marker_fill] = gateway.fill(marker, 1, "190")
        await eventually(lambda: marker_fill in runner.executions())
        assert len(ledger.fills[key]) == 3  # ...and added nothing the poll had not found
    finally:
        await runner.stop()
        await broker.aclose()


async def test_str_replay_after_a_reconnect_yields_no_new_executions(
    gateway: FakeIbkrGateway, broker: IbkrBroker, runner: StreamRunner
):
    await eventually(lambda: runner.connects == 1)
    result = await broker.place(request())
    ids = gateway.fill_many(int(result.broker_order_id), [(3, "3.05"), (7, "3.10")])
    await eventually(lambda: set(ids) <= set(runner.executions()))
    gateway.drop_websockets()
    await eventually(lambda: runner.connects == 2)
    await eventually(lambda: gateway.hub.replayed == [2])
    marker = gateway.create_order(symbol="AAPL", quantity=1, price="190")
    [marker_fill] = gateway.fill(marker, 1, "190")
    await eventually(lambda: marker_fill in runner.executions())
    assert sorted(runner.executions()) == sorted([*ids, marker_fill])


async def test_several_fills_in_one_frame_arrive_as_one_batch_in_order(
    gateway: FakeIbkrGateway, broker: IbkrBroker, runner: StreamRunner
):
    from ordertrail.ports import StreamBatch

    await eventually(lambda: runner.connects == 1)
    result = await broker.place(request())
    gateway.fill_many(int(result.broker_order_id), [(2, "3.00"), (3, "3.01"), (5, "3.02")])
    key = result.broker_order_id

    def batch_of_fills() -> StreamBatch | None:
        for item in runner.items:
            batch = isinstance(item, StreamBatch) and len(item.reports) == 3
            if batch and item.reports[0].filled_quantity == 2:
                return item
        return None

    batch = await eventually(batch_of_fills)
    assert [r.filled_quantity for r in batch.reports] == [2, 5, 10]
    await eventually(lambda: runner.ledger.states[key].status is OrderStatus.FILLED)
    assert len(runner.ledger.fills[key]) == 3


async def test_silent_sor_still_shows_the_truth_by_polling(
    gateway: FakeIbkrGateway, broker: IbkrBroker, runner: StreamRunner
):
    gateway.set(sor_silent=True)
    await eventually(lambda: runner.connects == 1)
    result = await broker.place(request())
    key = result.broker_order_id
    gateway.fill(int(key), 10, "3.10")
    await eventually(lambda: runner.executions())
    assert all(r.status is None for r in runner.reports())  # only `str` arrived
    ledger = Ledger()
    ledger.apply(await broker.list_orders(SINCE))
    assert ledger.states[key].status is OrderStatus.FILLED
    assert [f.quantity for f in ledger.fills[key]] == [10]


async def test_force_then_plain_dance(gateway: FakeIbkrGateway, broker: IbkrBroker):
    gateway.create_order(symbol="AAPL", quantity=1, price="190")
    first = await broker.list_orders(SINCE)
    second = await broker.list_orders(SINCE)
    assert len(first) == len(second) == 1
    assert gateway.calls["orders_force"] == 1 and gateway.calls["orders"] == 3


async def test_a_filtered_call_elsewhere_mutes_sor_until_our_next_force(
    gateway: FakeIbkrGateway, gateway_broker_factory
):
    import httpx

    broker = gateway_broker_factory(orders_force_interval_s=0.0)
    runner = StreamRunner(broker).start()
    try:
        await eventually(lambda: runner.connects == 1)
        async with httpx.AsyncClient() as other:
            answer = await other.get(f"{gateway.base_url}/iserver/account/orders?filters=filled")
            camel = await other.get(f"{gateway.base_url}/iserver/account/orders?filters=Filled")
        assert answer.status_code == 200 and camel.status_code == 500
        muted = gateway.create_order(symbol="AAPL", quantity=1, price="190")
        await broker.list_orders(SINCE)  # force=true un-mutes
        heard = gateway.create_order(symbol="AAPL", quantity=2, price="191")
        await eventually(lambda: str(heard) in {r.broker_order_id for r in runner.reports()})
        assert str(muted) not in {r.broker_order_id for r in runner.reports()}
    finally:
        await runner.stop()
        await broker.aclose()


async def test_an_earlier_sessions_order_is_unknown(gateway: FakeIbkrGateway, broker: IbkrBroker):
    order_id = gateway.create_order(symbol="AAPL", quantity=1, price="190")
    report = await broker.get_order(str(order_id))
    assert report is not None and report.status is OrderStatus.PLACED
    gateway.new_session()
    assert await broker.get_order(str(order_id)) is None
    assert await broker.list_orders(SINCE) == []


async def test_cancel_of_minus_one_is_refused_and_nothing_is_sent(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    ids = [gateway.create_order(symbol="AAPL", quantity=1, price="190") for _ in range(2)]
    with pytest.raises(BrokerRejected):
        await broker.cancel("-1")
    assert gateway.calls["cancel"] == 0
    assert [gateway.order(i).status for i in ids] == ["Submitted", "Submitted"]


async def test_cancel_ack_then_fill_during_pending_cancel_ends_filled(
    gateway: FakeIbkrGateway, broker: IbkrBroker, runner: StreamRunner
):
    gateway.set(cancel_delay_s=None)
    await eventually(lambda: runner.connects == 1)
    result = await broker.place(request())
    key = result.broker_order_id
    await broker.cancel(key)
    await eventually(lambda: runner.ledger.states[key].broker_status == "PendingCancel")
    assert runner.ledger.states[key].status is OrderStatus.PLACED
    gateway.fill(int(key), 10, "3.10")
    gateway.complete_cancel(int(key))
    await eventually(lambda: runner.ledger.states[key].status is OrderStatus.FILLED)
    assert gateway.order(int(key)).status == "Filled"


async def test_cancel_ack_then_cancelled(gateway: FakeIbkrGateway, broker: IbkrBroker):
    order_id = gateway.create_order(symbol="AAPL", quantity=1, price="190")
    await broker.cancel(str(order_id))
    await eventually(lambda: gateway.order(order_id).status == "Cancelled")
    [report] = await broker.list_orders(SINCE)
    assert report.status is OrderStatus.CANCELLED
    with pytest.raises(BrokerRejected, match="doesn't exist"):
        await broker.cancel("999")


async def test_question_chain_is_not_interleaved_with_polls(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    import asyncio

    polling = True

    async def keep_polling() -> None:
        while polling:
            await broker.list_orders(SINCE)

    poller = asyncio.create_task(keep_polling())
    await eventually(lambda: gateway.calls["orders"] >= 3)
    gateway.ask_on_next_place("o354", "o163", "o383")
    result = await broker.place(request())
    polling = False
    await poller
    assert gateway.order(int(result.broker_order_id)).order_ref == request().client_order_id
    assert gateway.entry.dropped == set()


async def test_late_reply_is_unavailable(gateway: FakeIbkrGateway, broker: IbkrBroker):
    gateway.set(reply_timeout_s=0.0)
    gateway.ask_on_next_place("o354")
    with pytest.raises(BrokerUnavailable):
        await broker.place(request())


async def test_refusal_under_200_is_rejected(gateway: FakeIbkrGateway, broker: IbkrBroker):
    gateway.reject_next_place("Your account has insufficient funds")
    with pytest.raises(BrokerRejected, match="insufficient funds"):
        await broker.place(request())


async def test_advanced_prompt_is_answered_and_the_order_works(
    gateway: FakeIbkrGateway, broker: IbkrBroker
):
    gateway.prompt_next_place()
    result = await broker.place(request())
    assert gateway.order(int(result.broker_order_id)).status == "Submitted"


async def test_503_bursts_on_reads_are_ridden_out(gateway: FakeIbkrGateway, broker: IbkrBroker):
    gateway.create_order(symbol="AAPL", quantity=1, price="190")
    gateway.fail_next(2, 503, "/iserver/account/orders")
    assert len(await broker.list_orders(SINCE)) == 1


async def test_inactive_order_turns_rejected_after_its_grace(gateway: FakeIbkrGateway):
    clock = FakeClock(datetime.now(UTC))
    broker = IbkrBroker(config_for(gateway, inactive_grace_s=30), clock=clock)
    try:
        gateway.create_order(symbol="AAPL", quantity=1, price="190", status="Inactive")
        [report] = await broker.list_orders(SINCE)
        assert report.status is OrderStatus.PLACED and report.flags == {"inactive"}
        clock.advance(31)
        [report] = await broker.list_orders(SINCE)
        assert report.status is OrderStatus.REJECTED and "Inactive" in (report.reason or "")
    finally:
        await broker.aclose()


async def test_missing_heartbeats_end_the_session(gateway: FakeIbkrGateway, gateway_broker_factory):
    broker = gateway_broker_factory(heartbeat_timeout_s=0.5)
    runner = StreamRunner(broker).start()
    try:
        await eventually(lambda: runner.connects == 1)
        gateway.set(hb_interval_s=60)
        await eventually(lambda: runner.drops, timeout=5)
        assert "heartbeat" in str(runner.drops[0])
        gateway.set(hb_interval_s=0.2)
        await eventually(lambda: runner.connects >= 2, timeout=5)
    finally:
        await runner.stop()
        await broker.aclose()


@pytest.mark.parametrize(
    ("ws_auth", "knobs"),
    [
        ("cookie", {"accept_session_frame": False}),
        ("frame", {"accept_cookie": False}),
        ("both", {"accept_session_frame": False}),
        ("cookie", {"accept_cookie": False}),  # falls back to the frame when asked to wait
    ],
)
async def test_websocket_authenticates_by_cookie_or_frame(
    gateway: FakeIbkrGateway, gateway_broker_factory, ws_auth, knobs
):
    gateway.set(**knobs)
    broker = gateway_broker_factory(ws_auth=ws_auth)
    runner = StreamRunner(broker).start()
    try:
        await eventually(lambda: runner.connects == 1)
        await eventually(lambda: gateway.hub.tics >= 1)
    finally:
        await runner.stop()
        await broker.aclose()


async def test_other_topics_are_ignored_and_trades_resolve_by_order_ref(
    gateway: FakeIbkrGateway, broker: IbkrBroker, runner: StreamRunner
):
    gateway.set(str_order_id=False)
    await eventually(lambda: runner.connects == 1)
    result = await broker.place(request())
    key = result.broker_order_id
    await eventually(lambda: key in runner.ledger.states)
    for topic in ("ntf", "blt", "act"):
        gateway.push_frame({"topic": topic, "args": {"text": "hello"}})
    gateway.push_frame({"error": "something odd"})
    gateway.fill(int(key), 10, "3.10")
    await eventually(lambda: len(runner.ledger.fills[key]) == 1)
    trade = next(r for r in runner.reports() if r.executions)
    assert trade.broker_order_id == key and trade.client_order_id == request().client_order_id


async def test_ten_thousand_orders(gateway: FakeIbkrGateway, broker: IbkrBroker):
    gateway.create_orders(10_000, symbol="AAPL")
    assert len(await broker.list_orders(SINCE)) == 1000  # the gateway's own cap
    gateway.set(max_rows=None)
    reports = await broker.list_orders(SINCE)
    assert len(reports) == 10_000 and len({r.broker_order_id for r in reports}) == 10_000


async def test_the_session_is_kept_alive_with_tickle(
    gateway: FakeIbkrGateway, gateway_broker_factory
):
    broker = gateway_broker_factory(tickle_interval_s=0.05)
    try:
        await broker.list_orders(SINCE)
        await eventually(lambda: gateway.calls["tickle"] >= 3)
    finally:
        await broker.aclose()
    assert broker._keepalive is None
