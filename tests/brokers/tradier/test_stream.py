"""The account-events stream against the fake: reports, fallbacks, drops and fresh sessions."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ordertrail.brokers.tradier import TradierBroker
from ordertrail.brokers.tradier.stream import TradierStream
from ordertrail.clock import FakeClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerUnavailable
from ordertrail.ports import PlaceRequest, PlaceResult, StreamBatch, StreamConnected
from tests.brokers.tradier.conftest import fold, make_config, open_stream, place_oco, strangle
from tests.fakes.tradier import FakeTradier, Fault
from tests.support.eventually import eventually

D = Decimal


async def place(broker: TradierBroker, tag: str, quantity: int = 100) -> PlaceResult:
    request = PlaceRequest(
        client_order_id=tag, instrument=Instrument("AAPL"), side="buy", quantity=D(quantity)
    )
    return await broker.place(request)


async def test_stream_connects_then_reports_each_partial_fill(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    stream = await open_stream(broker, fake)
    try:
        assert isinstance(stream.items[0], StreamConnected)
        result = await place(broker, "ot-s-1")
        order_id = int(result.broker_order_id)
        fake.fill(order_id, 40, "10.00")
        await eventually(lambda: any(r.filled_quantity == 40 for r in stream.reports))
        fake.fill(order_id, 60, "10.10")
        await eventually(lambda: any(r.status is OrderStatus.FILLED for r in stream.reports))
        reports = stream.reports_for(result.broker_order_id)
        assert all(r.source == "stream" and r.instrument is not None for r in reports)
        assert all(r.client_order_id == "ot-s-1" for r in reports)
        state, fills = fold([result.report, *reports])
        assert [(f.quantity, f.price) for f in fills] == [(D(40), D("10.00")), (D(60), D("10.10"))]
        assert state.status is OrderStatus.FILLED
    finally:
        await stream.close()


async def test_stream_and_polling_together_derive_each_fill_once(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(duplicate_events=True)
    stream = await open_stream(broker, fake)
    try:
        result = await place(broker, "ot-s-2")
        order_id = int(result.broker_order_id)
        seen = [result.report]
        fake.fill(order_id, 40, "10.00")
        seen += await broker.list_orders(fake.clock())
        await eventually(lambda: any(r.filled_quantity == 40 for r in stream.reports))
        seen += stream.reports_for(result.broker_order_id)
        fake.fill(order_id, 60, "10.10")
        await eventually(lambda: any(r.filled_quantity == 100 for r in stream.reports))
        seen += stream.reports_for(result.broker_order_id)
        seen += await broker.list_orders(fake.clock())
        state, fills = fold(seen)
        assert [(f.quantity, f.price) for f in fills] == [(D(40), D("10.00")), (D(60), D("10.10"))]
        assert state.filled_quantity == 100 and state.status is OrderStatus.FILLED
    finally:
        await stream.close()


async def test_events_of_other_accounts_are_ignored(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    stream = await open_stream(broker, fake)
    try:
        foreign = fake.create_order("MSFT", account="VA22222222")
        fake.fill(foreign, 1, "400")
        ours = fake.create_order("AAPL")
        await eventually(lambda: stream.reports_for(str(ours)))
        assert stream.reports_for(str(foreign)) == []
        assert fake.requests_to("GET", f"/orders/{foreign}") == []
    finally:
        await stream.close()


async def test_unreadable_order_falls_back_to_the_sparse_event(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(executed_quantity=True)
    order_id = fake.create_order("AAPL", quantity=10)
    stream = await open_stream(broker, fake)
    try:
        fake.inject(Fault.BAD_GATEWAY, times=10, method="GET", path=f"/orders/{order_id}")
        fake.fill(order_id, 4, "12.5")
        [report] = await eventually(lambda: stream.reports_for(str(order_id)))
        assert report.source == "stream" and report.filled_quantity == 4
        assert report.status is OrderStatus.PARTIAL and report.quantity is None
        assert report.avg_fill_price is None and report.instrument is None
        _, fills = fold([report])
        assert fills == []
    finally:
        await stream.close()


async def test_batched_and_reordered_events_still_end_in_the_right_state(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(batch_events=True, reorder_events=True, event_delay_s=0.05)
    stream = await open_stream(broker, fake)
    try:
        first = fake.create_order("AAPL", quantity=10)
        second = fake.create_order("MSFT", quantity=10)
        fake.fill(first, 10, "100")
        fake.fill(second, 10, "200")
        await eventually(
            lambda: (
                {r.broker_order_id for r in stream.reports if r.status is OrderStatus.FILLED}
                == {str(first), str(second)}
            )
        )
        assert any(isinstance(item, StreamBatch) for item in stream.items)
        for order_id, price in ((first, D(100)), (second, D(200))):
            _, fills = fold(stream.reports_for(str(order_id)))
            assert [(f.quantity, f.price) for f in fills] == [(D(10), price)]
    finally:
        await stream.close()


async def test_stream_drop_mid_fill_then_a_fresh_session_and_reconcile(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    result = await place(broker, "ot-s-3")
    order_id = int(result.broker_order_id)
    first = await open_stream(broker, fake)
    fake.fill(order_id, 40, "10.00")
    await eventually(lambda: first.reports_for(result.broker_order_id))
    assert fake.disconnect_streams() == 1
    await eventually(lambda: first.ended)
    assert isinstance(first.error, BrokerUnavailable)
    fake.fill(order_id, 60, "10.10")
    second = await open_stream(broker, fake)
    try:
        assert fake.hub.sessions_created == 2
        missed = await broker.list_orders(fake.clock())
        seen = [result.report, *first.reports_for(result.broker_order_id), *missed]
        _, fills = fold(seen)
        assert [(f.quantity, f.price) for f in fills] == [(D(40), D("10.00")), (D(60), D("10.10"))]
        fake.cancel(fake.create_order("SPY"))
        await eventually(lambda: second.reports)
    finally:
        await second.close()
        await first.close()


async def test_silent_stream_ends_after_the_heartbeat_timeout(fake: FakeTradier) -> None:
    broker = TradierBroker(make_config(fake, heartbeat_timeout_s=0.4))
    try:
        stream = await open_stream(broker, fake)
        await eventually(lambda: fake.hub.events_sent == 0 and len(stream.items) == 1)
        fake.set_knobs(stream_silent=True)
        fake.fill(fake.create_order("AAPL"), 1, "1")
        await eventually(lambda: stream.ended, timeout=5)
        assert isinstance(stream.error, BrokerUnavailable)
        assert "silent" in str(stream.error)
        assert stream.reports == []
    finally:
        await broker.aclose()


async def test_heartbeats_keep_a_quiet_stream_alive(fake: FakeTradier) -> None:
    fake.set_knobs(heartbeat_interval_s=0.1)
    broker = TradierBroker(make_config(fake, heartbeat_timeout_s=0.35))
    try:
        stream = await open_stream(broker, fake)
        sent_before = len(fake.requests)
        beats = fake.hub.heartbeats_sent
        await eventually(lambda: fake.hub.heartbeats_sent >= beats + 6)
        marker = fake.create_order("AAPL")
        await eventually(lambda: stream.reports_for(str(marker)))
        assert not stream.ended and stream.error is None
        assert len(fake.requests) == sent_before + 1
        await stream.close()
    finally:
        await broker.aclose()


async def test_a_stale_session_id_is_refused(fake: FakeTradier, broker: TradierBroker) -> None:
    from websockets.asyncio.client import connect

    fake.hub.new_session()
    async with connect(fake.stream_url) as socket:
        await socket.send(json.dumps({"events": ["order"], "sessionid": "nope"}))
        assert await socket.recv() == "session not found"
    stream = await open_stream(broker, fake)
    await stream.close()


async def test_stream_is_none_when_switched_off(fake: FakeTradier) -> None:
    broker = TradierBroker(make_config(fake, stream_enabled=False))
    assert broker.stream() is None
    await broker.aclose()


async def test_session_post_is_bodyless_with_zero_length(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    stream = await open_stream(broker, fake)
    await stream.close()
    [post] = fake.requests_to("POST", "/accounts/events/session")
    assert post.headers["content-length"] == "0" and post.body == b""


@pytest.mark.parametrize("drop", [1])
async def test_dropped_event_is_recovered_by_polling(
    fake: FakeTradier, broker: TradierBroker, drop: int
) -> None:
    order_id = fake.create_order("AAPL", quantity=5)
    stream = await open_stream(broker, fake)
    try:
        fake.set_knobs(drop_events=drop)
        fake.fill(order_id, 5, "50")
        marker = fake.create_order("SPY")
        await eventually(lambda: stream.reports_for(str(marker)))
        assert stream.reports_for(str(order_id)) == []
        polled = await broker.list_orders(fake.clock())
        _, fills = fold(r for r in polled if r.broker_order_id == str(order_id))
        assert [(f.quantity, f.price) for f in fills] == [(D(5), D(50))]
    finally:
        await stream.close()


async def test_a_filled_event_before_the_numbers_is_completed_by_re_reading(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(fill_data_lag_reads=2)
    order_id = fake.create_order("AAPL", quantity=50)
    stream = await open_stream(broker, fake)
    try:
        fake.fill(order_id, 50, "187.93")
        [report] = await eventually(lambda: stream.reports_for(str(order_id)))
        assert report.status is OrderStatus.FILLED
        assert (report.filled_quantity, report.avg_fill_price) == (50, D("187.93"))
        _, fills = fold([report])
        assert [(f.quantity, f.price) for f in fills] == [(D(50), D("187.93"))]
    finally:
        await stream.close()


async def test_a_multileg_orders_leg_events_report_the_parent_only(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    # The fake, like Tradier, sends an event for the parent and one per leg (`parent_id`);
    # a leg is not an order of ours: reported, it would be adopted beside its parent.
    stream = await open_stream(broker, fake)
    try:
        request = strangle("ot-s-ml")
        result = await broker.place(request)
        assert result.report is not None
        leg_ids = {leg.broker_order_id for leg in result.report.legs}
        fake.fill(int(result.broker_order_id), 1, "-1.30", leg_prices=["2.10", "0.80"])
        await eventually(lambda: any(r.status is OrderStatus.FILLED for r in stream.reports))
        assert {r.broker_order_id for r in stream.reports} == {result.broker_order_id}
        assert not leg_ids & {r.broker_order_id for r in stream.reports}
        _, fills = fold([result.report, *stream.reports])
        assert [(f.quantity, f.price) for f in fills] == [(D(1), D("-1.30"))]
    finally:
        await stream.close()


async def test_an_oco_childs_events_report_the_children_never_the_sparse_parent(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    stream = await open_stream(broker, fake)
    try:
        _, limit_id, stop_id = await place_oco(fake)
        fake.fill(int(limit_id), 10, "200")
        await eventually(lambda: any(r.status is OrderStatus.CANCELLED for r in stream.reports))
        assert {r.broker_order_id for r in stream.reports} <= {limit_id, stop_id}
        state, fills = fold(stream.reports_for(limit_id))
        assert state.status is OrderStatus.FILLED
        assert [(f.quantity, f.price) for f in fills] == [(D(10), D(200))]
        assert stream.reports_for(stop_id)[-1].status is OrderStatus.CANCELLED
    finally:
        await stream.close()


async def test_an_expired_session_is_unavailable_not_an_empty_stream(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    # The id must be used within its lifetime; the server then answers `session not found`.
    fake.set_knobs(session_ttl_s=0)
    stream = broker.stream()
    assert stream is not None
    with pytest.raises(BrokerUnavailable, match="session"):
        async for _item in stream:
            pass
    assert fake.hub.sessions_created == 1  # one session per attempt: the watcher backs off


@pytest.mark.parametrize("parent", [None, 0, "0", ""])
async def test_an_event_without_a_real_parent_reads_its_own_order(
    fake: FakeTradier, parent: object
) -> None:
    read: list[str] = []

    async def fetch(order_id: str) -> OrderReport | None:
        read.append(order_id)
        return None

    config = make_config(fake)
    stream = TradierStream(config, None, fetch, FakeClock())  # type: ignore[arg-type]
    event = {"event": "order", "id": 77, "status": "open", "account": config.account_id}
    await stream._reports([event | {"parent_id": parent}])
    assert read == ["77"]
