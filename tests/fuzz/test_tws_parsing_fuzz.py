"""Any values ib_async can hand over (typed as it types them) become a report, never a crash."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_async import (
    CommissionReport,
    Contract,
    Execution,
    Fill,
    Order,
    OrderStatus,
    Trade,
    TradeLogEntry,
)

from ordertrail.brokers.tws.parsing import (
    STATUS_MAP,
    executions_of,
    instrument_from_contract,
    report_from_fills,
    report_from_trade,
)
from ordertrail.domain.report import OrderReport
from tests.fuzz.strategies import EXAMPLES

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACCOUNT = "DU7654321"

words = st.one_of(
    st.sampled_from([*STATUS_MAP, "", "BUY", "SELL", "BOT", "SLD", "LMT", "MKT", "STP LMT"]),
    st.text(max_size=12),
)
doubles = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(sys.float_info.max),
    st.floats(-1e9, 1e9),
)
ids = st.integers(-(2**63), 2**63 - 1)
times = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.just(datetime.min),
)
contracts = st.builds(
    Contract,
    secType=st.sampled_from(["STK", "OPT", "BAG", "FUT", ""]),
    conId=ids,
    symbol=words,
    lastTradeDateOrContractMonth=st.one_of(st.text(max_size=10), st.just("20260619")),
    strike=doubles,
    right=st.sampled_from(["C", "P", "CALL", "PUT", "", "?"]),
    localSymbol=st.text(max_size=21),
)
executions = st.builds(
    Execution,
    execId=st.one_of(st.text(max_size=24), st.just("0000e0d5.6576fd38.01.01")),
    time=times,
    shares=doubles,
    price=doubles,
    permId=ids,
    orderRef=st.text(max_size=12),
    side=words,
    cumQty=doubles,
    avgPrice=doubles,
)
fills = st.builds(
    Fill,
    contract=contracts,
    execution=executions,
    commissionReport=st.just(CommissionReport()),
    time=times,
)
log_entries = st.builds(
    TradeLogEntry,
    time=times,
    status=words,
    message=st.text(max_size=30),
    errorCode=st.integers(0, 20000),
)


def trades() -> st.SearchStrategy[Trade]:
    orders = st.builds(
        Order,
        orderId=ids,
        clientId=ids,
        permId=ids,
        action=words,
        totalQuantity=doubles,
        orderType=words,
        lmtPrice=doubles,
        orderRef=st.text(max_size=12),
    )
    statuses = st.builds(
        OrderStatus,
        orderId=ids,
        status=words,
        filled=doubles,
        remaining=doubles,
        avgFillPrice=doubles,
        permId=ids,
    )
    return st.builds(
        Trade,
        contract=contracts,
        order=orders,
        orderStatus=statuses,
        fills=st.lists(fills, max_size=4),
        log=st.lists(log_entries, max_size=4),
    )


def check(report: OrderReport) -> None:
    assert isinstance(report, OrderReport) and report.broker == "tws"
    for number in (report.filled_quantity, report.avg_fill_price, report.quantity):
        assert number is None or number.is_finite()
    for execution in report.executions:
        assert execution.quantity >= 0 and execution.price.is_finite()


@FUZZ
@given(trade=trades())
def test_any_trade_becomes_a_report(trade: Trade) -> None:
    check(report_from_trade(trade, ACCOUNT, source="stream"))


@FUZZ
@given(some=st.lists(fills, min_size=1, max_size=5))
def test_any_fills_become_a_report_with_each_execution_once(some: list[Any]) -> None:
    report = report_from_fills(some, ACCOUNT)
    check(report)
    keys = [e.execution_id for e in report.executions]
    assert len(keys) == len(set(keys)) and len(keys) == len(executions_of(some))


@FUZZ
@given(contract=contracts)
def test_any_contract_is_described_or_left_unknown(contract: Contract) -> None:
    instrument_from_contract(contract)
