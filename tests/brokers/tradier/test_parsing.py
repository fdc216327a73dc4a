"""Parsing every recorded Tradier payload into reports, with the quirks of BROKERS.md §1.5."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrail.brokers.tradier.parsing import (
    STATUS_MAP,
    needs_fill_data,
    order_dicts,
    parse_order,
    parse_order_dict,
    parse_order_event,
    parse_orders_list,
    parse_place_answer,
    parse_session,
    parse_stream_message,
    parse_timestamp,
)
from ordertrail.brokers.tradier.stream import subscribe_frame
from ordertrail.domain.instrument import SecType
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerUnavailable
from tests.brokers.tradier import test_errors
from tests.brokers.tradier.conftest import RESOURCES, fold, load

ACCOUNT = "VA11111111"
D = Decimal
COVERED = {
    "cancel_ok.json",
    "get_order_filled_equity.json",
    "get_order_rejected_synthetic.json",
    "history_list_docs.json",
    "list_null.json",
    "list_single_order_object.json",
    "list_single_partially_filled_synthetic.json",
    "list_three_orders_docs.json",
    "place_ok.json",
    "preview_ok_equity.json",
    "stream_heartbeat.json",
    "stream_order_filled.json",
    "stream_order_open.json",
    "stream_session_ok.json",
    "stream_subscribe_frame.json",
}


def test_filled_equity_order_reads_every_number() -> None:
    report = parse_order(load("get_order_filled_equity.json"), ACCOUNT)
    assert report.status is OrderStatus.FILLED
    assert report.broker_status == "filled"
    assert report.key == ("tradier", ACCOUNT, "228176")
    assert report.quantity == D("50.0") and report.filled_quantity == D("50.0")
    assert report.avg_fill_price == D("187.93")
    assert (report.last_fill_price, report.last_fill_quantity) == (D("187.93"), D("50.0"))
    assert report.remaining_quantity == D("0.0")
    assert report.limit_price is None
    assert report.instrument is not None and report.instrument.sec_type is SecType.STOCK
    assert report.instrument.symbol == "AAPL"
    assert (report.side, report.order_type) == ("buy", "market")
    assert report.client_order_id is None
    assert report.broker_ts == datetime(2018, 6, 1, 13, 45, 13, 340000, tzinfo=UTC)
    assert report.derives_fills and report.source == "lookup"
    assert report.raw is not None and report.raw["id"] == 228176


def test_rejected_order_keeps_reason_tag_and_no_zero_prices() -> None:
    report = parse_order(load("get_order_rejected_synthetic.json"), ACCOUNT)
    assert report.status is OrderStatus.REJECTED
    assert report.reason == "DayTradingBuyingPowerExceeded"
    assert report.client_order_id == "cid-7f3c2a10-4e1b-4c8e-9d2f-0b6a1e5c9d44"
    assert report.limit_price == D("1.00")
    assert report.avg_fill_price is None
    assert report.last_fill_price is None and report.last_fill_quantity is None
    assert report.filled_quantity == 0


def test_null_string_and_real_null_mean_no_orders() -> None:
    assert parse_orders_list(load("list_null.json"), ACCOUNT) == []
    assert parse_orders_list({"orders": None}, ACCOUNT) == []


def test_single_order_object_is_a_list_of_one() -> None:
    [report] = parse_orders_list(load("list_single_order_object.json"), ACCOUNT)
    assert report.status is OrderStatus.FILLED
    assert report.broker_order_id == "69183"
    assert report.quantity == report.filled_quantity == D("128.00000")
    assert report.avg_fill_price == D("115.83") == report.limit_price
    assert report.source == "poll"


def test_partially_filled_order_is_partial_with_last_fill() -> None:
    [report] = parse_orders_list(load("list_single_partially_filled_synthetic.json"), ACCOUNT)
    assert report.status is OrderStatus.PARTIAL
    assert report.filled_quantity == D(40) and report.quantity == D(100)
    assert report.remaining_quantity == D(60)
    assert report.avg_fill_price == D("187.48")
    assert (report.last_fill_quantity, report.last_fill_price) == (D(15), D("187.50"))
    assert report.client_order_id == "cid-2b9e6f40-8c1d-4a7e-b3f5-5d0c7a2e1f88"
    state, fills = fold([report])
    assert [(f.quantity, f.price) for f in fills] == [(D(40), D("187.48"))]
    assert state.status is OrderStatus.PARTIAL


def test_three_orders_list_reads_equity_option_and_combo_with_legs() -> None:
    equity, option, combo = parse_orders_list(load("list_three_orders_docs.json"), ACCOUNT)
    assert equity.status is OrderStatus.EXPIRED and equity.limit_price == D("22.0")
    assert equity.avg_fill_price is None and equity.filled_quantity == 0
    assert option.status is OrderStatus.EXPIRED and option.limit_price is None
    assert option.instrument is not None
    assert option.instrument.sec_type is SecType.OPTION
    assert option.instrument.symbol == "SPY" and option.instrument.right == "C"
    assert option.instrument.strike == D(274) and option.instrument.expiry == date(2018, 7, 20)
    assert option.instrument.multiplier == 100
    assert option.side == "buy_to_open"
    assert combo.status is OrderStatus.CANCELLED and combo.order_type == "debit"
    assert combo.instrument is not None and combo.instrument.sec_type is SecType.MULTILEG
    assert combo.instrument.symbol == "SPY" and combo.instrument.multiplier == 100
    stock_leg, option_leg = combo.legs
    assert stock_leg.broker_order_id == "229064" and stock_leg.quantity == D(100)
    assert stock_leg.instrument is not None and stock_leg.instrument.sec_type is SecType.STOCK
    assert option_leg.side == "sell_to_close" and option_leg.status is OrderStatus.CANCELLED
    assert option_leg.instrument is not None and option_leg.instrument.option_symbol == (
        "SPY180720C00274000"
    )


def test_lone_leg_object_is_read_as_one_leg() -> None:
    order = {
        "id": 9,
        "class": "multileg",
        "symbol": "SPY",
        "status": "open",
        "type": "credit",
        "price": D("-1.20"),
        "quantity": D(1),
        "exec_quantity": D(0),
        "leg": {"id": 10, "class": "option", "option_symbol": "SPY260116P00400000"},
    }
    report = parse_order_dict(order, ACCOUNT, "poll")
    assert [leg.broker_order_id for leg in report.legs] == ["10"]
    assert report.limit_price == D("-1.20")


def test_sparse_oco_parent_reports_children_and_no_numbers() -> None:
    child = {
        "id": 21,
        "class": "equity",
        "symbol": "AAPL",
        "side": "sell",
        "type": "limit",
        "status": "open",
        "quantity": D(10),
        "exec_quantity": D(0),
        "avg_fill_price": D(0),
        "price": D("200.00"),
    }
    parent = {
        "id": 20,
        "class": "oco",
        "status": "open",
        "tag": "exit-1",
        "create_date": "2026-01-05T15:00:00.000Z",
        "transaction_date": "2026-01-05T15:00:00.000Z",
        "leg": [child, child | {"id": 22, "type": "stop", "stop_price": D("150")}],
    }
    report = parse_order_dict(parent, ACCOUNT, "poll")
    assert report.status is OrderStatus.PLACED and report.client_order_id == "exit-1"
    assert report.quantity is None and report.filled_quantity is None
    assert report.instrument is None
    assert [leg.broker_order_id for leg in report.legs] == ["21", "22"]
    assert not needs_fill_data(report)


def test_negative_credit_fill_price_is_kept() -> None:
    order = {
        "id": 5,
        "class": "multileg",
        "symbol": "SPY",
        "type": "credit",
        "status": "filled",
        "quantity": D(2),
        "exec_quantity": D(2),
        "avg_fill_price": D("-2.40"),
        "price": D("-2.35"),
    }
    report = parse_order_dict(order, ACCOUNT, "poll")
    assert report.avg_fill_price == D("-2.40") and report.limit_price == D("-2.35")
    _, fills = fold([report])
    assert [(f.quantity, f.price) for f in fills] == [(D(2), D("-2.40"))]


def test_filled_before_fill_data_records_no_zero_price_fill() -> None:
    base = {
        "id": 7,
        "class": "equity",
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "quantity": D(100),
        "status": "filled",
    }
    early = parse_order_dict(
        base | {"exec_quantity": D(40), "avg_fill_price": D(0), "last_fill_price": D(0)},
        ACCOUNT,
        "poll",
    )
    assert early.avg_fill_price is None and early.last_fill_price is None
    assert needs_fill_data(early)
    late = parse_order_dict(
        base | {"exec_quantity": D(100), "avg_fill_price": D("10.06")}, ACCOUNT, "poll"
    )
    assert not needs_fill_data(late)
    state, fills = fold([early, late])
    assert [(f.quantity, f.price) for f in fills] == [(D(100), D("10.06"))]
    assert state.status is OrderStatus.FILLED and state.filled_quantity == 100


def test_executed_quantity_is_read_like_exec_quantity() -> None:
    order = {
        "id": 3,
        "status": "open",
        "quantity": D(10),
        "executed_quantity": D(4),
        "avg_fill_price": D("5.5"),
    }
    report = parse_order_dict(order, ACCOUNT, "poll")
    assert report.filled_quantity == D(4) and report.status is OrderStatus.PARTIAL


@pytest.mark.parametrize(("raw", "status"), sorted(STATUS_MAP.items()))
def test_every_mapped_status(raw: str, status: OrderStatus) -> None:
    report = parse_order_dict({"id": 1, "status": raw, "exec_quantity": 0}, ACCOUNT, "poll")
    assert report.status is status and report.broker_status == raw


def test_ok_is_never_a_status_and_unknown_statuses_are_kept_raw(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ack = parse_order_dict({"id": 1, "status": "ok"}, ACCOUNT, "place")
    assert ack.status is None and ack.broker_status == "ok"
    odd = parse_order_dict({"id": 1, "status": "frozen_solid"}, ACCOUNT, "poll")
    assert odd.status is None and odd.broker_status == "frozen_solid"
    assert "frozen_solid" in caplog.text


def test_place_and_cancel_acks_give_the_order_id() -> None:
    assert parse_place_answer(load("place_ok.json")) == "257459"
    assert parse_place_answer(load("cancel_ok.json")) == "38453653"


def test_preview_answer_is_no_placement() -> None:
    payload = load("preview_ok_equity.json")
    with pytest.raises(BrokerUnavailable):
        parse_place_answer(payload)
    stamp = parse_timestamp(payload["order"]["request_date"])
    assert stamp == datetime(2019, 5, 14, 15, 56, 47, 371000, tzinfo=UTC)


def test_history_payload_is_not_an_empty_order_list() -> None:
    with pytest.raises(BrokerUnavailable):
        order_dicts(load("history_list_docs.json"))


def test_heartbeat_with_nine_fraction_digits() -> None:
    [beat] = parse_stream_message((RESOURCES / "stream_heartbeat.json").read_text())
    assert beat["event"] == "heartbeat"
    stamp = parse_timestamp(beat["timestamp"])
    assert stamp == datetime(2025, 12, 10, 18, 2, 51, 28929, tzinfo=UTC)


def test_stream_events_are_sparse_and_no_price_source() -> None:
    [filled] = parse_stream_message((RESOURCES / "stream_order_filled.json").read_text())
    report = parse_order_event(filled, "6YA")
    assert report.status is OrderStatus.FILLED and report.broker_order_id == "1107075"
    assert report.filled_quantity == D("2.0") and report.remaining_quantity == D("0.0")
    assert report.avg_fill_price is None and report.last_fill_quantity is None
    assert report.quantity is None and report.instrument is None and report.side is None
    assert report.limit_price == D("10.0") and report.source == "stream"
    opened = parse_order_event(load("stream_order_open.json"), "6YA")
    assert opened.status is OrderStatus.PLACED and opened.filled_quantity == 0


def test_several_events_in_one_frame_split_on_newlines() -> None:
    frame = (
        '{"event":"heartbeat","status":"active","timestamp":"2025-12-10T18:02:51.028929606Z"}\n'
        '{"id":1,"event":"order","status":"open","account":"A"}\n\n'
        '{"id":2,"event":"order","status":"filled","account":"A"}'
    )
    assert [m.get("id") for m in parse_stream_message(frame)] == [None, 1, 2]
    assert parse_stream_message("not json") == []


def test_stream_session_and_subscribe_frame() -> None:
    url, session = parse_session(load("stream_session_ok.json"))
    assert url == "wss://ws.tradier.com/v1/accounts/events"
    assert session == "123e4567-e89b-12d3-a456-426614174000"
    assert subscribe_frame("SESSION_ID") == load("stream_subscribe_frame.json")


def test_every_fixture_is_covered() -> None:
    names = {path.name for path in RESOURCES.iterdir() if path.name != "README.md"}
    missing = names - COVERED - test_errors.COVERED
    assert not missing, f"fixtures without a parsing test: {sorted(missing)}"


@st.composite
def observed_fill_paths(draw: st.DrawFn) -> tuple[list[tuple[Decimal, Decimal]], list[dict]]:
    """A real fill path and what polls and events could show of it: gaps, repeats, lag."""
    executions = draw(
        st.lists(
            st.tuples(
                st.integers(1, 50).map(Decimal),
                st.integers(100, 50_000).map(lambda cents: Decimal(cents) / 100),
            ),
            min_size=1,
            max_size=6,
        )
    )
    quantity = sum(q for q, _ in executions)
    snapshots, total, value = [], Decimal(0), Decimal(0)
    for q, price in executions:
        lagging = {"exec_quantity": total, "avg_fill_price": Decimal(0), "last_fill_price": 0}
        total, value = total + q, value + q * price
        status = "filled" if total == quantity else "partially_filled"
        fresh = {"exec_quantity": total, "avg_fill_price": value / total}
        fresh |= {"last_fill_price": price, "last_fill_quantity": q}
        snapshots.append({"status": status} | (lagging if draw(st.booleans()) else fresh))
        snapshots.append({"status": status} | fresh)
    seen = [*draw(st.lists(st.sampled_from(snapshots), max_size=12)), snapshots[-1]]
    base = {"id": 1, "class": "equity", "symbol": "AAPL", "type": "market", "quantity": quantity}
    return executions, [base | snapshot for snapshot in seen]


@given(observed_fill_paths())
def test_any_observed_fill_path_gives_each_unit_once_and_no_zero_price(
    path: tuple[list[tuple[Decimal, Decimal]], list[dict]],
) -> None:
    executions, orders = path
    state, fills = fold(parse_order_dict(order, ACCOUNT, "poll") for order in orders)
    assert sum(f.quantity for f in fills) == sum(q for q, _ in executions)
    assert all(f.price > 0 for f in fills)
    assert len({f.execution_id for f in fills}) == len(fills)
    expected_value = sum(q * p for q, p in executions)
    assert abs(sum(f.quantity * f.price for f in fills) - expected_value) < Decimal("0.000001")
    assert state.status is OrderStatus.FILLED
