"""Any JSON (or text) a Tradier server sends becomes reports or an OrdertrailError, nothing else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.brokers.tradier.parsing import (
    error_reasons,
    load_json,
    needs_fill_data,
    parse_error,
    parse_order,
    parse_order_event,
    parse_orders_list,
    parse_place_answer,
    parse_session,
    parse_stream_message,
)
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerError, OrdertrailError
from tests.fuzz.strategies import (
    EXAMPLES,
    TRADIER_KEYS,
    TRADIER_WORDS,
    json_values,
    tradier_json,
    tradier_order,
)

T = TypeVar("T")
ACCOUNT = "VA00000001"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def report_or_error(call: Callable[[], T]) -> T | None:
    """Run a parser: its answer, or None when it refused with an OrdertrailError."""
    try:
        return call()
    except OrdertrailError:
        return None


def check_report(report: OrderReport) -> None:
    assert isinstance(report, OrderReport)
    assert report.broker == "tradier" and report.account_id == ACCOUNT
    for number in (report.filled_quantity, report.avg_fill_price, report.quantity):
        assert number is None or number.is_finite()
    for leg in report.legs:
        check_report(leg)
    assert isinstance(needs_fill_data(report), bool)


@FUZZ
@given(payload=st.one_of(tradier_json, tradier_order.map(lambda o: {"orders": {"order": o}})))
def test_any_order_list_answer_gives_reports_or_a_clear_error(payload: Any) -> None:
    reports = report_or_error(lambda: parse_orders_list(payload, ACCOUNT))
    for report in reports or []:
        check_report(report)


@FUZZ
@given(payload=st.one_of(tradier_json, tradier_order.map(lambda o: {"order": o})))
def test_any_single_order_answer_gives_a_report_or_a_clear_error(payload: Any) -> None:
    report = report_or_error(lambda: parse_order(payload, ACCOUNT))
    if report is not None:
        check_report(report)


@FUZZ
@given(frame=st.one_of(json_values(TRADIER_KEYS, TRADIER_WORDS).map(json.dumps), st.text()))
def test_any_stream_frame_gives_events_whose_reports_parse(frame: str) -> None:
    for message in parse_stream_message(frame):
        if message.get("event") == "order":
            check_report(parse_order_event(message, ACCOUNT))


@FUZZ
@given(events=st.lists(tradier_order.map(lambda o: {**o, "event": "order"}), max_size=3))
def test_batched_order_events_one_per_line_all_parse(events: list[dict[str, Any]]) -> None:
    frame = "\n".join(json.dumps(event, default=str) for event in events)
    for message in parse_stream_message(frame):
        check_report(parse_order_event(message, ACCOUNT))


@FUZZ
@given(text=st.text())
def test_any_body_text_is_json_or_unavailable(text: str) -> None:
    report_or_error(lambda: load_json(text))


@FUZZ
@given(
    status=st.integers(100, 599),
    body=st.one_of(
        st.text(),
        tradier_json.map(lambda value: json.dumps(value, default=str)),
        st.integers(0, 10**13).map(lambda ms: f"Quota Violation: Expires {ms}"),
        st.sampled_from(["canceled", "filled", "x"]).map(
            lambda s: f"order already in finalized state: {s}"
        ),
    ),
)
def test_any_failed_answer_becomes_a_broker_error(status: int, body: str) -> None:
    now = datetime(2026, 1, 5, 15, tzinfo=UTC)
    assert isinstance(parse_error(status, body, now=now), BrokerError)


@FUZZ
@given(payload=tradier_json)
def test_place_and_session_answers_give_ids_or_clear_errors(payload: Any) -> None:
    order_id = report_or_error(lambda: parse_place_answer(payload))
    assert order_id is None or isinstance(order_id, str)
    session = report_or_error(lambda: parse_session(payload))
    assert session is None or all(isinstance(part, str) for part in session)
    assert all(isinstance(reason, str) for reason in error_reasons(payload))


@settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listing=tradier_json, single=tradier_json)
def test_the_adapter_polls_any_answer_into_reports_or_a_clear_error(
    listing: Any, single: Any
) -> None:
    """Through `TradierBroker.list_orders`, including its re-reads of orders filled early."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = listing if request.url.path.endswith("/orders") else single
        return httpx.Response(200, text=json.dumps(body, default=str))

    async def poll() -> list[OrderReport] | None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        config = TradierConfig(
            access_token="t", account_id=ACCOUNT, base_url="http://tradier.test/v1"
        )
        broker = TradierBroker(config, http=client, sleep=_no_sleep)
        try:
            return await broker.list_orders(datetime.now(UTC))
        except OrdertrailError:
            return None
        finally:
            await client.aclose()

    for report in asyncio.run(poll()) or []:
        check_report(report)


async def _no_sleep(_: float) -> None:
    return None
