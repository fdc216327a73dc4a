"""TWS parsing over real ib_async objects, including the recorded Inactive order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from ib_async import (
    CommissionReport,
    Contract,
    Execution,
    Fill,
    LimitOrder,
    MarketOrder,
    Option,
    Order,
    OrderStatus,
    Stock,
    Trade,
    TradeLogEntry,
)

from ordertrail.brokers.tws.parsing import (
    STATUS_MAP,
    execution_key,
    executions_of,
    instrument_from_contract,
    report_from_fills,
    report_from_trade,
)
from ordertrail.domain.instrument import SecType
from ordertrail.domain.status import OrderStatus as Status

RESOURCES = Path(__file__).parents[2] / "resources" / "ibkr"
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
D = Decimal


def inactive_trade(*log: TradeLogEntry) -> Trade:
    """The ib_insync issue #559 scenario, rebuilt from its recorded reprs."""
    order_text, status_text = [
        line
        for line in (RESOURCES / "tws_inactive_limit_order_repr.txt").read_text().splitlines()
        if line.strip()
    ]
    names = {"LimitOrder": LimitOrder, "OrderStatus": OrderStatus}
    order = eval(order_text, names)
    status = eval(status_text, names)
    return Trade(Stock("XYZ", "SMART", "USD"), order, status, [], list(log))


def test_recorded_inactive_limit_order_is_placed_and_flagged():
    report = report_from_trade(inactive_trade(TradeLogEntry(NOW, "Inactive")), "DU1")
    assert report.broker == "tws" and report.broker_order_id == "69483056"
    assert report.status is Status.PLACED and report.broker_status == "Inactive"
    assert report.flags == frozenset({"inactive"})
    assert report.quantity == D("877.0") and report.remaining_quantity == D("877.0")
    assert report.filled_quantity == D(0) and report.avg_fill_price is None
    assert report.limit_price == D("1.14") and report.side == "buy"
    assert report.order_type == "limit" and report.derives_fills is False
    assert report.broker_ts == NOW


def test_inactive_with_an_error_text_is_rejected():
    entry = TradeLogEntry(NOW, "Inactive", "Error 201, reqId 4119: Order rejected", 201)
    report = report_from_trade(inactive_trade(entry), "DU1")
    assert report.status is Status.REJECTED and "Order rejected" in (report.reason or "")


def trade(status: str, *, perm_id: int = 0, filled: float = 0.0, ref: str = "") -> Trade:
    order = MarketOrder("SELL", 10, orderId=7, permId=perm_id, orderRef=ref)
    row = OrderStatus(orderId=7, status=status, filled=filled, remaining=10 - filled)
    return Trade(Stock("AAPL", "SMART", "USD"), order, row, [], [])


@pytest.mark.parametrize(
    ("status", "perm_id", "filled", "expected"),
    [
        ("PendingSubmit", 0, 0.0, Status.PENDING),  # ib_async's own, before TWS answered
        ("ApiPending", 0, 0.0, Status.PENDING),
        ("PendingSubmit", 55, 0.0, Status.PLACED),
        ("PreSubmitted", 55, 0.0, Status.PLACED),
        ("Submitted", 55, 0.0, Status.PLACED),
        ("Submitted", 55, 4.0, Status.PARTIAL),
        ("ApiUpdate", 55, 0.0, Status.PLACED),
        ("ValidationError", 55, 0.0, Status.PLACED),
        ("PendingCancel", 55, 4.0, Status.PARTIAL),
        ("ApiCancelled", 55, 0.0, Status.CANCELLED),
        ("Cancelled", 55, 4.0, Status.CANCELLED),
        ("Filled", 55, 10.0, Status.FILLED),
        ("Inactive", 55, 0.0, Status.PLACED),
    ],
)
def test_status_table(status, perm_id, filled, expected):
    report = report_from_trade(trade(status, perm_id=perm_id, filled=filled), "DU1")
    assert report.status is expected
    assert report.broker_order_id == (str(perm_id) if perm_id else None)


def test_unknown_status_is_kept_raw(caplog):
    report = report_from_trade(trade("Frozen", perm_id=55), "DU1")
    assert report.status is None and report.broker_status == "Frozen"
    assert "Frozen" in caplog.text


def test_every_status_of_ib_async_is_mapped():
    known = {v for k, v in vars(OrderStatus).items() if k[0].isupper() and isinstance(v, str)}
    assert known <= set(STATUS_MAP)


def test_order_ref_is_the_client_order_id():
    assert report_from_trade(trade("Submitted", perm_id=5, ref="ot-1"), "DU1").client_order_id == (
        "ot-1"
    )
    assert report_from_trade(trade("Submitted", perm_id=5), "DU1").client_order_id is None


def test_corrections_share_one_execution_key():
    assert execution_key("0000e0d5.6576fd38.01.01") == execution_key("0000e0d5.6576fd38.01.02")
    assert execution_key("0000e0d5.6576fd38.01.01") != execution_key("0000e0d5.6576fd38.02.01")
    assert execution_key("plain") == "plain"


def fill(exec_id: str, shares: float, price: float, contract: Contract | None = None) -> Fill:
    execution = Execution(
        execId=exec_id, time=NOW, shares=shares, price=price, permId=77, orderRef="ot-9", side="BOT"
    )
    return Fill(contract or Stock("AAPL"), execution, CommissionReport(), NOW)


def test_a_corrected_execution_is_reported_once_with_the_corrected_numbers():
    fills = [fill("e1.01", 3, 1.10), fill("e1.02", 3, 1.11), fill("e2.01", 7, 1.12)]
    executions = executions_of(fills)
    assert [(e.execution_id, e.quantity, e.price) for e in executions] == [
        ("e1", D(3), D("1.11")),
        ("e2", D(7), D("1.12")),
    ]
    assert executions[0].executed_at == NOW


def test_fills_without_their_trade_become_a_report():
    report = report_from_fills([fill("e1.01", 3, 1.10)], "DU1")
    assert report.broker_order_id == "77" and report.client_order_id == "ot-9"
    assert report.status is None and report.side == "buy" and len(report.executions) == 1


def test_option_contract_is_described_with_its_terms():
    contract = Option("TSLA", "20260619", 250.0, "C", "SMART", multiplier="100", conId=812345678)
    instrument = instrument_from_contract(contract)
    assert instrument is not None and instrument.sec_type is SecType.OPTION
    assert (instrument.strike, instrument.right, instrument.expiry) == (
        D(250),
        "C",
        date(2026, 6, 19),
    )
    assert instrument.option_symbol == "TSLA260619C00250000"
    assert instrument.contract_id == "812345678"


def test_combo_fills_count_the_combo_not_its_legs():
    bag = Contract(secType="BAG", symbol="SPY")
    leg = Option("SPY", "20260619", 500.0, "C")
    order = Order(action="BUY", totalQuantity=1, orderType="LMT", lmtPrice=1.5, permId=9)
    fills = [fill("b1.01", 1, 1.5, bag), fill("l1.01", 1, 3.0, leg), fill("l2.01", 1, 1.5, leg)]
    row = OrderStatus(status="Filled", filled=1, remaining=0, avgFillPrice=1.5)
    report = report_from_trade(Trade(bag, order, row, fills, []), "DU1")
    assert [e.execution_id for e in report.executions] == ["b1"]
    assert report.instrument is not None and report.instrument.sec_type is SecType.MULTILEG
