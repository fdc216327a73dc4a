"""Inputs the parser fuzzing found that ended in an exception other than an OrdertrailError.

Each was a poison pill: one such order in a list answer failed every poll of the account, one
such frame killed a stream session. They stay here as regression tests.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.parsing import parse_order_row, report_from_trades
from ordertrail.brokers.ibkr.stream import IbkrStream
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.brokers.tradier.parsing import parse_error, parse_stream_message
from ordertrail.domain.report import OrderReport
from ordertrail.errors import OrdertrailError

GOOD = {"id": 1, "status": "open", "symbol": "AAPL", "quantity": 1, "exec_quantity": 0}


def tradier_poll(orders: list[dict[str, Any]]) -> list[OrderReport]:
    """Poll a Tradier account whose list answer holds `orders`."""

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=json.dumps({"orders": {"order": orders}}))

    async def poll() -> list[OrderReport]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        config = TradierConfig(access_token="t", account_id="VA1", base_url="http://t.test/v1")
        try:
            return await TradierBroker(config, http=client).list_orders(datetime.now(UTC))
        finally:
            await client.aclose()

    return asyncio.run(poll())


def clean(call: Any) -> object:
    """Call a parser; an OrdertrailError is a clean refusal, anything else a defect."""
    try:
        return call()
    except OrdertrailError as error:
        return error


def test_tradier_order_whose_class_is_a_list_does_not_stop_the_poll() -> None:
    reports = tradier_poll([GOOD, {"id": 2, "status": "open", "class": ["equity"]}])
    assert "1" in {r.broker_order_id for r in reports}


def test_tradier_order_with_an_out_of_range_timestamp_does_not_stop_the_poll() -> None:
    odd = GOOD | {"id": 2, "transaction_date": "0001-01-01T00:00:00+01:00"}
    reports = tradier_poll([GOOD, odd])
    assert {r.broker_order_id for r in reports} == {"1", "2"}


def test_tradier_binary_frame_that_is_not_utf8_is_skipped() -> None:
    assert parse_stream_message(b"\xff\xfe{") == []


def test_tradier_quota_answer_with_an_absurd_expiry_is_still_rate_limited() -> None:
    error = parse_error(400, "Quota Violation: Expires 99999999999999999999")
    assert error.retry_after >= 0  # type: ignore[attr-defined]


def test_ibkr_frame_with_a_list_topic_is_ignored() -> None:
    assert IbkrStream(IbkrConfig(account_id="DU1")).handle({"topic": ["sor"]}) is None


@pytest.mark.parametrize("ms", [1e20, "99999999999999999999"])
def test_ibkr_row_and_trade_with_an_absurd_epoch_still_parse(ms: object) -> None:
    row = {"orderId": 1, "status": "Submitted", "lastExecutionTime_r": ms}
    assert parse_order_row(row, "DU1").broker_order_id == "1"
    trade = {"execution_id": "e1", "order_id": 1, "size": 1, "price": "1", "trade_time_r": ms}
    report = report_from_trades([trade], "DU1")
    assert report is not None and len(report.executions) == 1


def test_ibkr_order_id_with_a_huge_exponent_is_refused_cleanly() -> None:
    outcome = clean(lambda: parse_order_row({"orderId": Decimal("1E+5000")}, "DU1"))
    assert isinstance(outcome, OrderReport | OrdertrailError)
