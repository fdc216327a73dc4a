"""Parsing over every recorded IBKR payload: statuses, quantities, prices, options, errors."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.options import (
    build_instrument,
    instrument_from_secdef,
    parse_option_description,
)
from ordertrail.brokers.ibkr.parsing import (
    STATUS_MAP,
    map_status,
    order_rows,
    parse_execution,
    parse_order_row,
    parse_order_status,
    report_from_trades,
)
from ordertrail.brokers.ibkr.placing import classify
from ordertrail.brokers.ibkr.stream import IbkrStream, decode_frame
from ordertrail.domain.instrument import SecType
from ordertrail.domain.status import OrderStatus
from ordertrail.ports import StreamBatch
from tests.brokers.ibkr.conftest import RESOURCES, load

D = Decimal


def rows_of(name: str) -> list[dict]:
    rows = order_rows(load(name))
    assert rows is not None
    return rows


def test_every_fixture_is_exercised_by_some_test():
    here = Path(__file__).parent
    text = "".join(p.read_text() for p in here.glob("test_*.py"))
    text += (here.parent / "tws" / "test_parsing.py").read_text()
    unused = [p.name for p in RESOURCES.iterdir() if p.suffix in (".json", ".txt")]
    assert [name for name in unused if f'"{name}"' not in text] == []


def test_filled_market_order_keeps_order_ref_and_string_average():
    [row] = rows_of("cp_orders_filled_market_order_ref_docs.json")
    report = parse_order_row(row, "U1234567")
    assert report.broker == "ibkr" and report.broker_order_id == "1234568790"
    assert report.status is OrderStatus.FILLED and report.broker_status == "Filled"
    assert report.client_order_id == "Order123"
    assert report.filled_quantity == D(5) and report.quantity == D(5)
    assert report.remaining_quantity == D(0)
    assert report.avg_fill_price == D("192.26")
    assert report.limit_price is None  # a market order has no `price`
    assert report.side == "sell" and report.order_type == "market"
    assert report.instrument is not None and report.instrument.symbol == "AAPL"
    assert report.instrument.contract_id == "265598"
    assert report.derives_fills is False and report.executions == ()
    assert report.broker_ts == datetime(2023, 12, 11, 18, 0, 49, tzinfo=UTC)


@pytest.mark.parametrize(("side", "meaning"), [("EXER", "exercise"), ("ASSN", "assignment")])
def test_exercise_and_assignment_rows_say_so(side: str, meaning: str):
    # Not orders anyone placed: kept as what they are (adopted as external, never a proposal's).
    [row] = rows_of("cp_orders_filled_market_order_ref_docs.json")
    row = row | {"side": side, "orderDesc": f"{meaning.upper()} 5, Day"}
    assert parse_order_row(row, "U1234567").side == meaning


def test_system_cancellation_keeps_its_reason():
    [row] = rows_of("cp_orders_cancelled_by_system.json")
    report = parse_order_row(row, "U1234567")
    assert report.status is OrderStatus.CANCELLED
    assert report.reason == "Cancelled by System: order expired"
    assert report.filled_quantity == D(0) and report.avg_fill_price is None
    assert report.limit_price == D("600.00")
    assert report.broker_ts is None  # no lastExecutionTime on this row


def test_force_cleared_answer_is_an_empty_list_not_an_error():
    assert order_rows(load("cp_orders_empty_force_cleared.json")) == []


def test_presubmitted_rows_are_placed_with_our_client_ids():
    reports = [
        parse_order_row(r, "DUMMY_ACCOUNT_ID123")
        for r in rows_of("cp_orders_rows_four_presubmitted_limits.json")
    ]
    assert [r.status for r in reports] == [OrderStatus.PLACED] * 4
    assert [r.broker_status for r in reports] == ["PreSubmitted"] * 4
    assert [r.limit_price for r in reports] == [D("457.00"), D("457.00"), D("453.00"), D("458.00")]
    assert reports[0].client_order_id == "240103-SPY-1-BUY-L@457-bxv8"
    assert all(r.quantity == 1 and r.filled_quantity == 0 for r in reports)


def test_market_on_close_with_empty_price_is_working():
    [row] = rows_of("cp_orders_working_moc_submitted.json")
    report = parse_order_row(row, "U14546299")
    assert report.status is OrderStatus.PLACED
    assert report.limit_price is None  # `price: ""` must not break parsing
    assert report.order_type == "market_on_close"
    assert report.quantity == D(45) and report.client_order_id is None


def test_order_status_answer_uses_its_own_names():
    report = parse_order_status(load("cp_order_status_filled_docs.json"), "U1234567")
    assert report.status is OrderStatus.FILLED and report.broker_order_id == "1799796559"
    assert report.filled_quantity == D(5) and report.quantity == D(5)
    assert report.remaining_quantity == D(0) and report.avg_fill_price == D("192.26")
    assert report.side == "sell" and report.order_type == "market" and report.source == "lookup"
    assert report.broker_ts == datetime(2023, 12, 11, 18, 0, 49, tzinfo=UTC)


def test_working_order_status_is_placed_with_its_limit():
    report = parse_order_status(load("cp_order_status_working_limit.json"), "DUMMY_ACCOUNT_ID123")
    assert report.status is OrderStatus.PLACED and report.broker_status == "Submitted"
    assert report.limit_price == D("457.00") and report.remaining_quantity == D(1)
    assert report.filled_quantity == D(0) and report.side == "buy"


def test_order_not_found_body_says_not_found():
    body = load("cp_order_status_not_found_http503.json")
    assert "not found" in body["error"] and body["statusCode"] == 503


def test_trade_row_becomes_an_execution_and_an_orphan_report():
    [row] = load("cp_trades_one_fill_docs.json")
    execution = parse_execution(row)
    assert execution is not None
    assert execution.execution_id == "0000e0d5.6576fd38.01.01"
    assert execution.quantity == D(5) and execution.price == D("192.26")
    assert execution.executed_at == datetime(2023, 12, 11, 18, 0, 49, tzinfo=UTC)
    report = report_from_trades([row], "U1234567")
    assert report is not None
    assert report.broker_order_id == "17437897932" and report.client_order_id == "Order123"
    assert report.status is None and report.filled_quantity is None
    assert report.executions == (execution,) and report.derives_fills is False
    assert report.instrument is not None and report.instrument.symbol == "AAPL"


def test_sor_full_row_with_numeric_price():
    frame = load("ws_sor_full_row_submitted.json")
    stream = IbkrStream(IbkrConfig(account_id="DU1234"))
    report = stream.handle(frame)
    assert report is not None and not isinstance(report, StreamBatch)
    assert report.status is OrderStatus.PLACED and report.limit_price == D(372)
    assert report.quantity is None  # no totalSize in this row
    assert report.remaining_quantity == D(100) and report.source == "stream"


def test_sor_partial_fill_deltas_become_one_batch_in_order():
    stream = IbkrStream(IbkrConfig(account_id="DU1234"))
    batch = stream.handle(load("ws_sor_partial_fill_deltas.json"))
    assert isinstance(batch, StreamBatch)
    assert [r.filled_quantity for r in batch.reports] == [D(100), D(700), D(722)]
    # deltas without a status leave it unsaid; the domain makes a working order PARTIAL
    assert [r.status for r in batch.reports] == [None, None, OrderStatus.FILLED]
    # the second delta says nothing about the average: the merged row keeps the first
    assert batch.reports[1].avg_fill_price == D("382.45")
    assert batch.reports[2].limit_price == D("382.4")


def test_sor_status_deltas_in_one_frame_keep_their_order():
    stream = IbkrStream(IbkrConfig(account_id="DU1234"))
    batch = stream.handle(load("ws_sor_status_deltas_one_frame.json"))
    assert isinstance(batch, StreamBatch)
    assert [r.broker_status for r in batch.reports] == [
        "PendingSubmit",
        "PreSubmitted",
        "Submitted",
    ]
    assert all(r.filled_quantity is None for r in batch.reports)  # absent, never zero


def test_str_trade_without_order_id_is_reported_once():
    stream = IbkrStream(IbkrConfig(account_id="DU26214"))
    frame = load("ws_str_trade_docs.json")
    report = stream.handle(frame)
    assert report is not None and not isinstance(report, StreamBatch)
    assert report.client_order_id == "66807500" and report.broker_order_id is None
    assert report.executions[0].price == D("130.64") and report.executions[0].quantity == D(1)
    assert report.instrument is not None and report.instrument.contract_id == "265598"
    assert stream.handle(frame) is None  # the replay after a reconnect adds nothing


@pytest.mark.parametrize(
    "name",
    [
        "ws_sts_authenticated.json",
        "ws_sts_authenticated_2022_docs.json",
        "ws_system_heartbeat.json",
        "ws_system_success.json",
        "ws_waiting_for_session.json",
        "ws_client_session_frame.json",
    ],
)
def test_control_frames_carry_no_reports(name):
    frame = decode_frame((RESOURCES / name).read_text())
    assert frame is not None
    assert IbkrStream(IbkrConfig(account_id="DU1234")).handle(frame) is None


def test_sts_frames_say_authenticated():
    for name in ("ws_sts_authenticated.json", "ws_sts_authenticated_2022_docs.json"):
        assert load(name)["args"]["authenticated"] is True


@pytest.mark.parametrize(
    ("name", "kind", "order_id"),
    [
        ("cp_place_ok_presubmitted.json", "placed", "1370093239"),
        ("cp_reply_confirmed_ok.json", "placed", "1370093239"),
        ("cp_modify_ok.json", "placed", "1370093239"),
        ("cp_place_reply_required_o354.json", "question", None),
        ("cp_place_error_not_confirmed.json", "error", None),
        ("cp_reply_id_not_found.json", "error", None),
        ("cp_modify_error_unknown_order.json", "error", None),
        ("cp_place_advanced_reject_prompt.json", "prompt", "123456789"),
    ],
)
def test_place_answers_are_classified(name, kind, order_id):
    answer = classify(load(name))
    assert answer.kind == kind
    assert answer.order_id == order_id


def test_question_answer_names_its_reply_id_and_message_id():
    answer = classify(load("cp_place_reply_required_o354.json"))
    assert answer.reply_id == "99097238-9824-4830-84ef-46979aa22593"
    assert answer.message_ids == ("o354",) and "market data" in (answer.text or "")


def test_prompt_answer_offers_options():
    answer = classify(load("cp_place_advanced_reject_prompt.json"))
    assert answer.req_id == "22170" and answer.message_ids == ("p12",)
    assert answer.options == ("Use on this order", "Always use", "Do not use")


def test_bracket_with_failed_child_is_refused():
    answer = classify(
        [
            {"order_id": "-1", "order_status": "Failed", "text": "Child refused"},
            {"order_id": "1370093240", "order_status": "Inactive"},
        ]
    )
    assert answer.kind == "failed" and "Child refused" in (answer.text or "")
    assert "1370093240" in (answer.text or "")


def test_error_text_keeps_the_brokers_words():
    assert classify(load("cp_place_error_not_confirmed.json")).text == "Order not confirmed"


def test_secdef_rows_describe_call_and_put():
    call, put = (instrument_from_secdef(row) for row in load("cp_secdef_info_option_call_put.json"))
    assert call.sec_type is SecType.OPTION and call.symbol == "VT"
    assert (call.strike, call.right, call.expiry) == (D(88), "C", date(2023, 2, 17))
    assert put.right == "P" and put.contract_id == "568249644"
    assert call.option_symbol == "VT230217C00088000" and call.multiplier == D(100)


@pytest.mark.parametrize(
    ("text", "expiry", "strike", "right"),
    [
        ("JUN 28 '24 192.5 Call", date(2024, 6, 28), D("192.5"), "C"),
        ("FEB 17 '23 88 Put", date(2023, 2, 17), D(88), "P"),
        ("TSLA JAN 5 '26 250 Call [TSLA 260105C00250000 100]", date(2026, 1, 5), D(250), "C"),
    ],
)
def test_option_descriptions_are_read(text, expiry, strike, right):
    terms = parse_option_description(text)
    assert terms is not None
    assert (terms.expiry, terms.strike, terms.right) == (expiry, strike, right)


@pytest.mark.parametrize("text", ["", "AAPL", "FOO 31 '24 1 Call", "JUN 28 24 192.5 Call"])
def test_non_option_descriptions_are_refused(text):
    assert parse_option_description(text) is None


def test_option_row_uses_the_underlying_and_the_option_conid():
    instrument = build_instrument("OPT", "SPY", 712345678, ("JUN 28 '24 192.5 Call",))
    assert instrument is not None and instrument.symbol == "SPY"
    assert instrument.contract_id == "712345678" and instrument.strike == D("192.5")
    assert instrument.option_symbol == "SPY240628C00192500"


def test_unknown_status_is_kept_raw_and_logged(caplog):
    report = parse_order_row({"orderId": 7, "status": "Frozen"}, "DU1")
    assert report.status is None and report.broker_status == "Frozen"
    assert "Frozen" in caplog.text


def test_inactive_is_placed_and_flagged_or_rejected_with_refusal_text():
    inactive = parse_order_row({"orderId": 7, "status": "Inactive"}, "DU1")
    assert inactive.status is OrderStatus.PLACED and inactive.flags == frozenset({"inactive"})
    refused = parse_order_row(
        {"orderId": 7, "status": "Inactive", "order_cancellation_by_system_reason": "No margin"},
        "DU1",
    )
    assert refused.status is OrderStatus.REJECTED and refused.reason == "No margin"


def test_status_table_is_explicit():
    assert map_status("PendingCancel") is OrderStatus.PLACED
    assert map_status("Failed") is OrderStatus.REJECTED
    assert set(STATUS_MAP) >= {"Inactive", "PreSubmitted", "Submitted", "Filled", "Cancelled"}


def test_prices_may_be_numbers_strings_or_empty():
    for price, expected in ((372, D(372)), ("457.00", D("457.00")), ("", None), (None, None)):
        report = parse_order_row({"orderId": 1, "price": price}, "DU1")
        assert report.limit_price == expected


def test_rows_for_other_accounts_are_ignored_on_the_stream():
    stream = IbkrStream(IbkrConfig(account_id="DU1"))
    frame = {"topic": "sor", "args": [{"orderId": 1, "acct": "DU2", "status": "Filled"}]}
    assert stream.handle(frame) is None


def test_ignored_topics_and_error_frames(caplog):
    stream = IbkrStream(IbkrConfig(account_id="DU1"))
    for topic in ("ntf", "blt", "spl", "act"):
        assert stream.handle({"topic": topic, "args": {"anything": 1}}) is None
    assert stream.handle({"no": "topic"}) is None
    assert stream.handle({"error": "Topic unknown"}) is None
    assert "Topic unknown" in caplog.text


def test_the_literal_python_originals_match_the_json():
    # the README says Python dict originals were converted mechanically; spot-check one
    text = (RESOURCES / "ws_sts_authenticated.json").read_text()
    assert ast.literal_eval(text.replace("true", "True")) == {
        "topic": "sts",
        "args": {"authenticated": True},
    }
