"""Polling the fake Tradier: list shapes, paging, fills seen between polls, races, old orders."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx

from ordertrail.brokers.tradier import TradierBroker
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.status import OrderStatus
from ordertrail.ports import PlaceRequest
from tests.brokers.tradier.conftest import fold, make_config, place_oco
from tests.fakes.tradier import FakeTradier, Step

D = Decimal


async def place(broker: TradierBroker, tag: str, quantity: int = 100) -> str:
    request = PlaceRequest(
        client_order_id=tag, instrument=Instrument("AAPL"), side="buy", quantity=D(quantity)
    )
    return (await broker.place(request)).broker_order_id


async def test_no_one_and_many_orders(fake: FakeTradier, broker: TradierBroker) -> None:
    assert await broker.list_orders(fake.clock()) == []
    fake.set_knobs(null_style="json")
    assert await broker.list_orders(fake.clock()) == []
    fake.create_order("AAPL")
    assert len(await broker.list_orders(fake.clock())) == 1
    fake.create_order("MSFT")
    fake.create_order("SPY")
    reports = await broker.list_orders(fake.clock())
    assert [r.instrument.symbol for r in reports if r.instrument] == ["AAPL", "MSFT", "SPY"]


async def test_every_page_is_read_while_pages_are_full(fake: FakeTradier) -> None:
    for index in range(5):
        fake.create_order("AAPL", quantity=index + 1)
    broker = TradierBroker(make_config(fake, page_limit=2))
    try:
        reports = await broker.list_orders(fake.clock())
    finally:
        await broker.aclose()
    assert [r.quantity for r in reports] == [D(1), D(2), D(3), D(4), D(5)]
    pages = [r.query for r in fake.requests_to("GET", "/orders")]
    assert [p["page"] for p in pages] == ["1", "2", "3"]
    assert all(p["limit"] == "2" and p["includeTags"] == "true" for p in pages)


async def test_the_default_limit_would_cut_the_list(fake: FakeTradier) -> None:
    for _ in range(30):
        fake.create_order("AAPL")
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{fake.base_url}/accounts/{fake.account_id}/orders",
            headers={"Authorization": f"Bearer {fake.token}", "Accept": "application/json"},
        )
    assert len(answer.json()["orders"]["order"]) == 25


async def test_partial_fills_seen_by_polling_derive_each_fill_once(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    order_id = await place(broker, "ot-p-1")
    seen = [await broker.get_order(order_id)]
    fake.fill(int(order_id), 40, "10.00")
    seen += await broker.list_orders(fake.clock())
    seen += await broker.list_orders(fake.clock())
    fake.fill(int(order_id), 60, "10.10")
    seen += await broker.list_orders(fake.clock())
    seen.append(await broker.get_order(order_id))
    state, fills = fold(r for r in seen if r is not None)
    assert [(f.quantity, f.price) for f in fills] == [(D(40), D("10.00")), (D(60), D("10.10"))]
    assert len({f.execution_id for f in fills}) == 2
    assert state.status is OrderStatus.FILLED and state.filled_quantity == 100


async def test_fills_between_polls_become_one_fill_at_the_increment_average(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    order_id = await place(broker, "ot-p-2")
    before = await broker.list_orders(fake.clock())
    fake.script(int(order_id), [Step.fill(40, "10.00"), Step.fill(60, "10.10")])
    assert fake.tick() == 1 and fake.tick() == 1 and fake.tick() == 0
    after = await broker.list_orders(fake.clock())
    state, fills = fold([*before, *after])
    assert [(f.quantity, f.price) for f in fills] == [(D(100), D("10.06"))]
    assert state.status is OrderStatus.FILLED


async def test_filled_before_its_numbers_is_re_read_until_they_arrive(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(fill_data_lag_reads=2)
    order_id = await place(broker, "ot-race-1")
    placed = await broker.get_order(order_id)
    fake.fill(int(order_id), 100, "187.93")
    [report] = await broker.list_orders(fake.clock())
    assert report.avg_fill_price == D("187.93") and report.filled_quantity == 100
    assert len(fake.requests_to("GET", f"/orders/{order_id}")) >= 3
    _, fills = fold([placed, report])
    assert [(f.quantity, f.price) for f in fills] == [(D(100), D("187.93"))]


async def test_filled_without_numbers_past_the_deadline_records_no_zero_price_fill(
    fake: FakeTradier,
) -> None:
    broker = TradierBroker(make_config(fake, fill_data_deadline_s=0.2))
    try:
        fake.set_knobs(fill_data_lag_reads=1000)
        order_id = await place(broker, "ot-race-2")
        fake.fill(int(order_id), 40, "10.00")
        partial = await broker.get_order(order_id)
        fake.fill(int(order_id), 60, "10.10")
        early = await broker.get_order(order_id)
        assert early is not None and early.status is OrderStatus.FILLED
        assert early.avg_fill_price is None and early.filled_quantity == 40
        state, fills = fold([partial, early])
        assert [(f.quantity, f.price) for f in fills] == [(D(40), D("10.00"))]
        assert state.status is OrderStatus.FILLED
        fake.order(int(order_id)).lag_reads = 0
        late = await broker.get_order(order_id)
        state, fills = fold([partial, early, late])
        assert [(f.quantity, f.price) for f in fills] == [(D(40), D("10.00")), (D(60), D("10.10"))]
        assert all(f.price > 0 for f in fills)
    finally:
        await broker.aclose()


async def test_order_placed_by_hand_has_no_tag(fake: FakeTradier, broker: TradierBroker) -> None:
    order_id = fake.create_order("TSLA", "sell", 7, "limit", price="250.00")
    [report] = await broker.list_orders(fake.clock())
    assert report.broker_order_id == str(order_id) and report.client_order_id is None
    assert report.status is OrderStatus.PLACED and report.limit_price == D("250.00")


async def test_cancelled_with_fills_keeps_them(fake: FakeTradier, broker: TradierBroker) -> None:
    order_id = fake.create_order("AAPL", quantity=100)
    first = await broker.list_orders(fake.clock())
    fake.fill(order_id, 30, "99.5")
    fake.cancel(order_id)
    later = await broker.list_orders(fake.clock())
    assert later[0].status is OrderStatus.CANCELLED and later[0].remaining_quantity == 0
    fake.fill(order_id, 70, "99.7")
    last = await broker.list_orders(fake.clock())
    state, fills = fold([*first, *later, *last])
    assert [f.quantity for f in fills] == [D(30), D(70)]
    assert state.status is OrderStatus.FILLED


async def test_yesterdays_orders_need_a_backfill_and_gtc_orders_carry_over(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    yesterday = fake.clock() - timedelta(days=1)
    day_order = fake.create_order("AAPL", created=yesterday, status="expired")
    gtc_order = fake.create_order("MSFT", created=yesterday, duration="gtc", type="limit", price=1)
    today = await broker.list_orders(fake.clock())
    assert [r.broker_order_id for r in today] == [str(gtc_order)]
    backfill = await broker.list_orders(fake.clock() - timedelta(days=2))
    assert {r.broker_order_id for r in backfill} == {str(day_order), str(gtc_order)}
    filters = [r.query.get("filter") for r in fake.requests_to("GET", "/orders")]
    assert filters == [None, "all", None]  # a backfill reads today's list as well
    old_gtc = fake.create_order("IBM", created=yesterday - timedelta(days=3), duration="gtc")
    backfill = await broker.list_orders(fake.clock() - timedelta(days=2))
    assert str(old_gtc) in {r.broker_order_id for r in backfill}  # only carried over today


async def test_an_oco_parent_is_sparse_so_its_children_are_listed_as_the_orders(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    parent_id, _, _ = await place_oco(fake, tag="ot-oco-1")
    # The parent is sparse (no symbol, never fill numbers): its children are listed instead.
    limit_leg, stop_leg = await broker.list_orders(fake.clock())
    assert str(parent_id) not in (limit_leg.broker_order_id, stop_leg.broker_order_id)
    assert (limit_leg.order_type, stop_leg.order_type) == ("limit", "stop")
    assert limit_leg.instrument == Instrument("AAPL") and limit_leg.quantity == D(10)
    fake.fill(int(limit_leg.broker_order_id or 0), 10, "200")
    filled, cancelled = await broker.list_orders(fake.clock())
    assert (filled.status, cancelled.status) == (OrderStatus.FILLED, OrderStatus.CANCELLED)
    state, fills = fold([limit_leg, filled])
    assert state.status is OrderStatus.FILLED
    assert [(f.quantity, f.price) for f in fills] == [(D(10), D(200))]
