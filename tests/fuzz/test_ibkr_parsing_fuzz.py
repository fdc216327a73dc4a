"""Any JSON a Client Portal gateway sends becomes reports or an OrdertrailError, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.brokers.ibkr import IbkrBroker, IbkrConfig
from ordertrail.brokers.ibkr.options import instrument_from_secdef
from ordertrail.brokers.ibkr.parsing import (
    order_rows,
    parse_execution,
    parse_order_row,
    parse_order_status,
    report_from_trades,
)
from ordertrail.brokers.ibkr.placing import classify
from ordertrail.brokers.ibkr.stream import IbkrStream, decode_frame
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.errors import OrdertrailError
from ordertrail.ports import StreamBatch
from tests.fuzz.strategies import EXAMPLES, IBKR_KEYS, IBKR_WORDS, ibkr_json, ibkr_row, json_values

T = TypeVar("T")
ACCOUNT = "DU1234567"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TICKLE = {"session": "ab" * 16, "iserver": {"authStatus": {"authenticated": True}}}


def answer_or_error(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except OrdertrailError:
        return None


def check_report(report: OrderReport | None) -> None:
    if report is None:
        return
    assert isinstance(report, OrderReport) and report.broker == "ibkr"
    assert report.derives_fills is False
    for number in (report.filled_quantity, report.avg_fill_price, report.quantity):
        assert number is None or number.is_finite()
    assert all(isinstance(e, Execution) and e.quantity >= 0 for e in report.executions)


@FUZZ
@given(body=ibkr_json)
def test_any_live_orders_answer_gives_rows_that_parse(body: Any) -> None:
    rows = order_rows(body)
    assert rows is None or all(isinstance(row, dict) for row in rows)
    for row in rows or []:
        check_report(parse_order_row(row, ACCOUNT))


@FUZZ
@given(row=ibkr_row)
def test_any_row_order_status_or_trade_parses(row: dict[str, Any]) -> None:
    check_report(parse_order_row(row, ACCOUNT, source="stream"))
    check_report(parse_order_status(row, ACCOUNT))
    execution = parse_execution(row)
    assert execution is None or execution.quantity >= 0
    check_report(report_from_trades([row, row], ACCOUNT))
    assert isinstance(instrument_from_secdef(row), Instrument)


@FUZZ
@given(frames=st.lists(json_values(IBKR_KEYS, IBKR_WORDS).map(json.dumps) | st.text(), max_size=6))
def test_any_websocket_frames_become_reports_or_nothing(frames: list[str]) -> None:
    stream = IbkrStream(IbkrConfig(account_id=ACCOUNT))
    for text in frames:
        frame = decode_frame(text)
        if frame is None or isinstance(frame.get("topic"), list | dict):
            continue  # an unhashable topic is a known defect, pinned in test_parser_defects.py
        item = stream.handle(frame)
        reports = item.reports if isinstance(item, StreamBatch) else (item,)
        for report in reports:
            check_report(report)


@FUZZ
@given(
    topic=st.sampled_from(["sor", "str"]),
    args=st.lists(ibkr_row, max_size=3),
)
def test_any_sor_and_str_arguments_merge_into_reports(topic: str, args: list[Any]) -> None:
    stream = IbkrStream(IbkrConfig(account_id=ACCOUNT))
    for _ in range(2):  # the second pass merges deltas into rows and sees replayed executions
        item = stream.handle({"topic": topic, "args": args})
        reports = item.reports if isinstance(item, StreamBatch) else (item,)
        for report in reports:
            check_report(report)


@FUZZ
@given(body=ibkr_json)
def test_any_place_answer_is_classified(body: Any) -> None:
    answer = classify(body)
    assert answer.kind in ("placed", "question", "prompt", "error", "failed", "unreadable")
    assert answer.kind != "placed" or answer.order_id is not None


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=ibkr_json, trades=ibkr_json, status=ibkr_json)
def test_the_adapter_polls_any_answers_into_reports_or_a_clear_error(
    orders: Any, trades: Any, status: Any
) -> None:
    """Through `IbkrBroker.list_orders` and `get_order` over a transport serving fuzzed bodies."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/tickle"):
            body: Any = TICKLE
        elif path.endswith("/iserver/accounts"):
            body = {"accounts": [ACCOUNT]}
        elif path.endswith("/account/orders"):
            body = orders
        elif path.endswith("/account/trades"):
            body = trades
        else:
            body = status
        return httpx.Response(200, text=json.dumps(body, default=str))

    async def poll() -> list[OrderReport]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        config = IbkrConfig(
            account_id=ACCOUNT,
            base_url="http://gateway.test/v1/api",
            orders_min_interval_s=0,
            retry_backoff_s=0,
        )
        broker = IbkrBroker(config, http=client, sleep=_no_sleep)
        found: list[OrderReport] = []
        try:
            with contextlib.suppress(OrdertrailError):
                found += await broker.list_orders(datetime.now(UTC))
            with contextlib.suppress(OrdertrailError):
                one = await broker.get_order("1370000001")
                found += [one] if one is not None else []
        finally:
            await broker.aclose()
            await client.aclose()
        return found

    for report in asyncio.run(poll()):
        check_report(report)


async def _no_sleep(_: float) -> None:
    return None
