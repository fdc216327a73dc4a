"""Placing and cancelling against the fake Tradier server over real sockets."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from ordertrail.brokers.tradier import TradierBroker
from ordertrail.domain.instrument import Instrument, SecType, parse_occ
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerRejected, BrokerUnavailable
from ordertrail.ports import PlaceRequest
from tests.brokers.tradier.conftest import fold, strangle
from tests.fakes.tradier import FakeTradier, Fault

D = Decimal
AAPL = Instrument(symbol="AAPL")
CALL = parse_occ("SPY260116C00600000")
PUT = parse_occ("SPY260116P00550000")


def form_of(fake: FakeTradier) -> dict[str, str]:
    [post] = fake.requests_to("POST", "/orders")
    return dict(parse_qsl(post.body.decode()))


async def test_entry_order_round_trips_its_tag(fake: FakeTradier, broker: TradierBroker) -> None:
    request = PlaceRequest(
        client_order_id="ot-ENTRY-7-a1b2",
        instrument=AAPL,
        side="buy",
        quantity=D("10"),
        order_type="limit",
        limit_price=D("187.50"),
    )
    result = await broker.place(request)
    assert fake.order(int(result.broker_order_id)).tag == "ot-ENTRY-7-a1b2"
    assert form_of(fake) == {
        "class": "equity",
        "symbol": "AAPL",
        "side": "buy",
        "quantity": "10",
        "type": "limit",
        "duration": "day",
        "price": "187.5",
        "tag": "ot-ENTRY-7-a1b2",
    }
    [post] = fake.requests_to("POST", "/orders")
    assert post.headers["accept"] == "application/json" and post.bearer
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    report = result.report
    assert report is not None and report.source == "place"
    assert report.client_order_id == "ot-ENTRY-7-a1b2"
    assert report.status is OrderStatus.PLACED and report.broker_status == "pending"
    looked_up = await broker.get_order(result.broker_order_id)
    assert looked_up is not None and looked_up.client_order_id == "ot-ENTRY-7-a1b2"
    assert looked_up.broker_status == "open"
    [listed] = await broker.list_orders(fake.clock())
    assert listed.client_order_id == "ot-ENTRY-7-a1b2"


async def test_exit_option_order_sends_occ_symbol_and_underlying(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    assert CALL is not None
    request = PlaceRequest(
        client_order_id="ot-EXIT-9", instrument=CALL, side="sell_to_close", quantity=D(2)
    )
    result = await broker.place(request)
    form = form_of(fake)
    assert form["class"] == "option" and form["symbol"] == "SPY"
    assert form["option_symbol"] == "SPY260116C00600000" and "price" not in form
    assert result.report is not None and result.report.instrument == CALL
    assert result.report.side == "sell_to_close"


async def test_multileg_order_sends_indexed_legs(fake: FakeTradier, broker: TradierBroker) -> None:
    assert CALL is not None and PUT is not None
    request = strangle("ot-ENTRY-strangle")
    result = await broker.place(request)
    form = form_of(fake)
    assert form["class"] == "multileg" and form["type"] == "credit" and form["price"] == "1.25"
    assert form["option_symbol[0]"] == "SPY260116C00600000"
    assert form["option_symbol[1]"] == "SPY260116P00550000"
    assert form["side[1]"] == "sell_to_open" and form["quantity[1]"] == "1"
    report = result.report
    assert report is not None and report.instrument is not None
    assert report.instrument.sec_type is SecType.MULTILEG and len(report.legs) == 2
    fake.fill(int(result.broker_order_id), 1, "-1.30", leg_prices=["2.10", "0.80"])
    filled = await broker.get_order(result.broker_order_id)
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == D("-1.30")
    _, fills = fold([report, filled])
    assert [(f.quantity, f.price) for f in fills] == [(D(1), D("-1.30"))]


@pytest.mark.parametrize("tag", ["has space", "semi;colon", "x" * 256, ""])
async def test_bad_tag_is_refused_before_sending(
    fake: FakeTradier, broker: TradierBroker, tag: str
) -> None:
    request = PlaceRequest(client_order_id=tag, instrument=AAPL, side="buy", quantity=D(1))
    with pytest.raises(BrokerRejected):
        await broker.place(request)
    assert fake.requests_to("POST") == []


@pytest.mark.parametrize(
    ("status", "errors"),
    [
        (200, ["Backoffice rejected override of the order.", "DayTradingBuyingPowerExceeded"]),
        (400, ["Invalid parameter, symbol: not found."]),
    ],
)
async def test_refusal_without_id_is_rejected(
    fake: FakeTradier, broker: TradierBroker, status: int, errors: list[str]
) -> None:
    fake.refuse_next_place(errors, status=status)
    request = PlaceRequest(client_order_id="ot-1", instrument=AAPL, side="buy", quantity=D(1))
    with pytest.raises(BrokerRejected) as caught:
        await broker.place(request)
    assert errors[-1] in str(caught.value)
    assert fake.orders_with_tag("ot-1") == []


async def test_downstream_rejection_shows_in_the_read_back(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.reject_next_place("DayTradingBuyingPowerExceeded")
    request = PlaceRequest(client_order_id="ot-2", instrument=AAPL, side="buy", quantity=D(9))
    result = await broker.place(request)
    assert result.report is not None and result.report.status is OrderStatus.REJECTED
    assert result.report.reason == "DayTradingBuyingPowerExceeded"


@pytest.mark.parametrize("mode", [Fault.GATEWAY_TIMEOUT, Fault.DROP, Fault.HANG])
async def test_lost_place_answer_is_unknown_and_the_order_is_found_by_tag(
    fake: FakeTradier, short_timeout_broker: TradierBroker, mode: Fault
) -> None:
    fake.lose_next_place(mode)
    request = PlaceRequest(client_order_id="ot-lost-1", instrument=AAPL, side="buy", quantity=D(3))
    with pytest.raises(BrokerUnavailable) as caught:
        await short_timeout_broker.place(request)
    assert not isinstance(caught.value, BrokerRejected)
    assert len(fake.requests_to("POST", "/orders")) == 1
    found = [
        report
        for report in await short_timeout_broker.list_orders(fake.clock())
        if report.client_order_id == "ot-lost-1"
    ]
    assert len(found) == 1 and found[0].quantity == D(3)


async def test_quota_spent_on_place_waits_for_the_window_and_places_once(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_limits(window_s=0.4, trading=1)
    first = PlaceRequest(client_order_id="ot-q-1", instrument=AAPL, side="buy", quantity=D(1))
    second = PlaceRequest(client_order_id="ot-q-2", instrument=AAPL, side="buy", quantity=D(1))
    await broker.place(first)
    await broker.place(second)
    assert len(fake.orders_with_tag("ot-q-1")) == len(fake.orders_with_tag("ot-q-2")) == 1
    assert fake.limits.refused == 0


async def test_quota_violation_on_place_is_retried_since_nothing_was_placed(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_limits(window_s=0.3)
    fake.inject(Fault.QUOTA, method="POST", path="/orders")
    request = PlaceRequest(client_order_id="ot-q-3", instrument=AAPL, side="buy", quantity=D(1))
    await broker.place(request)
    assert len(fake.orders_with_tag("ot-q-3")) == 1
    assert len(fake.requests_to("POST", "/orders")) == 2


@pytest.mark.parametrize("finalized_status", [400, 200])  # Tradier answered both
async def test_cancel_then_canceled_and_a_finished_order_is_no_error(
    fake: FakeTradier, broker: TradierBroker, finalized_status: int
) -> None:
    fake.set_knobs(finalized_cancel_status=finalized_status)
    request = PlaceRequest(client_order_id="ot-c-1", instrument=AAPL, side="buy", quantity=D(5))
    result = await broker.place(request)
    await broker.cancel(result.broker_order_id)
    report = await broker.get_order(result.broker_order_id)
    assert report is not None and report.status is OrderStatus.CANCELLED
    await broker.cancel(result.broker_order_id)
    assert len(fake.requests_to("DELETE")) == 2


async def test_cancel_pending_then_fill_races_the_cancel(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    fake.set_knobs(cancel_pending=True)
    request = PlaceRequest(client_order_id="ot-c-2", instrument=AAPL, side="buy", quantity=D(5))
    result = await broker.place(request)
    order_id = int(result.broker_order_id)
    await broker.cancel(result.broker_order_id)
    pending = await broker.get_order(result.broker_order_id)
    assert pending is not None and pending.broker_status == "pending_cancel"
    assert pending.status is OrderStatus.PLACED
    fake.fill(order_id, 2, "190")
    fake.confirm_cancel(order_id)
    cancelled = await broker.get_order(result.broker_order_id)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED
    assert cancelled.filled_quantity == 2 and cancelled.remaining_quantity == 0
    state, fills = fold([pending, cancelled])
    assert state.status is OrderStatus.CANCELLED and [f.quantity for f in fills] == [D(2)]


async def test_order_of_another_account_or_unknown_id_reads_as_none(
    fake: FakeTradier, broker: TradierBroker
) -> None:
    foreign = fake.create_order("MSFT", account="VA22222222")
    assert await broker.get_order(str(foreign)) is None
    assert await broker.get_order("424242") is None
