"""Simulated broker messages for the test endpoint: a broker's own format, or the seed's short form.

Either way the message becomes reports that go through the one apply path, like a stream frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from typing import Any

from ordertrail.brokers.ibkr import parsing as ibkr
from ordertrail.brokers.tradier import parsing as tradier
from ordertrail.domain.instrument import Instrument, option_instrument, parse_occ
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import InvalidRequest, OrdertrailError

SOURCE = "test"
BROKERS = ("tradier", "ibkr", "paper")
LIMIT = Decimal(10) ** 12
# Column widths the reports must fit (PostgreSQL refuses longer values).
WIDTHS = {
    "broker": 32,
    "account_id": 64,
    "broker_order_id": 64,
    "client_order_id": 255,
    "broker_status": 64,
    "side": 32,
    "order_type": 32,
    "symbol": 64,
    "option_symbol": 64,
    "contract_id": 64,
    "execution_id": 255,
}
ALIASES: dict[str, OrderStatus] = {
    "PARTIALLY_FILLED": OrderStatus.PARTIAL,
    "PARTIAL_FILL": OrderStatus.PARTIAL,
    "CANCELED": OrderStatus.CANCELLED,
    "OPEN": OrderStatus.PLACED,
    "WORKING": OrderStatus.PLACED,
    "SUBMITTED": OrderStatus.PLACED,
    "PRESUBMITTED": OrderStatus.PLACED,
}


@dataclass(frozen=True)
class ShortMessage:
    """The seed's short form: `{"orderId", "status", "symbol", "strike", "right", ...}`."""

    order_id: str
    status: str
    symbol: str | None = None
    strike: Decimal | None = None
    right: str | None = None
    expiry: date | None = None
    contract_id: str | None = None
    option_symbol: str | None = None
    filled_quantity: Decimal | None = None
    avg_fill_price: Decimal | None = None
    quantity: Decimal | None = None
    remaining_quantity: Decimal | None = None
    side: str | None = None
    client_order_id: str | None = None


def short_report(
    message: ShortMessage, broker: str, account_id: str, raw: Mapping[str, Any]
) -> OrderReport:
    """Build the report a broker would have sent for the short form.

    With a price, fills are derived from the cumulative quantity (as for Tradier); without
    one only the quantity and the status move, as the seed's message did.
    """
    report = OrderReport(
        broker=broker,
        account_id=account_id,
        broker_order_id=message.order_id,
        status=parse_status(message.status),
        broker_status=message.status,
        client_order_id=message.client_order_id,
        filled_quantity=message.filled_quantity,
        avg_fill_price=message.avg_fill_price,
        quantity=message.quantity,
        remaining_quantity=message.remaining_quantity,
        instrument=_instrument(message),
        side=message.side,
        derives_fills=message.avg_fill_price is not None,
        source=SOURCE,
        raw=dict(raw),
    )
    return checked(report)


def parse_status(text: str) -> OrderStatus:
    """Read a status word: ours (`FILLED`), IBKR's (`Submitted`) or Tradier's (`canceled`)."""
    key = text.strip().upper().replace(" ", "_")
    if key in OrderStatus.__members__:
        return OrderStatus[key]
    found = ALIASES.get(key) or ibkr.STATUS_MAP.get(text) or tradier.STATUS_MAP.get(text.lower())
    if found is None:
        known = ", ".join(s.value for s in OrderStatus)
        raise InvalidRequest(f"status {text!r} is not an order status (use one of {known})")
    return found


def _instrument(message: ShortMessage) -> Instrument | None:
    if message.option_symbol:
        parsed = parse_occ(message.option_symbol)
        if parsed is None:
            raise InvalidRequest(f"option symbol {message.option_symbol!r} is not an OCC symbol")
        return replace(parsed, contract_id=message.contract_id)
    if not message.symbol:
        return None
    if message.strike is not None and message.right:
        if message.right.upper()[:1] not in ("C", "P"):
            raise InvalidRequest(f"right {message.right!r} is not C or P")
        return option_instrument(
            message.symbol, message.strike, message.right, message.expiry, message.contract_id
        )
    return Instrument(symbol=message.symbol.upper(), contract_id=message.contract_id)


def broker_reports(broker: str, message: Any, account_id: str) -> list[OrderReport]:
    """Parse a raw message in `broker`'s own format with that broker's parser."""
    parse = _PARSERS.get(broker)
    if parse is None:
        raise InvalidRequest(f"broker {broker!r} is not one of {', '.join(BROKERS)}")
    try:
        reports = parse(message, account_id)
    except InvalidRequest:
        raise
    except (OrdertrailError, ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as e:
        raise InvalidRequest(f"not a {broker} order message: {e}") from e
    if not reports:
        raise InvalidRequest(f"the {broker} message holds no order")
    return [checked(r) for r in reports]


def _tradier(message: Any, account_id: str) -> list[OrderReport]:
    if isinstance(message, Mapping) and "orders" in message:
        return tradier.parse_orders_list(message, account_id, SOURCE)
    if isinstance(message, Mapping) and "order" in message:
        return [tradier.parse_order(message, account_id, SOURCE)]
    if isinstance(message, Mapping) and message.get("event") == "order":
        return [replace(tradier.parse_order_event(message, account_id), source=SOURCE)]
    if isinstance(message, Mapping) and "id" in message:
        return [tradier.parse_order_dict(message, account_id, SOURCE)]
    raise InvalidRequest(
        "a tradier message is {'order': {...}}, {'orders': {...}}, a stream event or one order"
    )


def _ibkr(message: Any, account_id: str) -> list[OrderReport]:
    if isinstance(message, Mapping) and "orders" not in message:
        rows: list[dict[str, Any]] | None = [dict(message)]
    else:
        rows = ibkr.order_rows(message)
    if rows is None:
        raise InvalidRequest("an ibkr message is an order row, a list of rows or {'orders': [...]}")
    return [ibkr.parse_order_row(row, account_id, source=SOURCE) for row in rows]


def _paper(message: Any, account_id: str) -> list[OrderReport]:
    """The paper broker speaks Tradier's order shape."""
    return [replace(r, broker="paper") for r in _tradier(message, account_id)]


_PARSERS: dict[str, Callable[[Any, str], list[OrderReport]]] = {
    "tradier": _tradier,
    "ibkr": _ibkr,
    "paper": _paper,
}


def checked(report: OrderReport) -> OrderReport:
    """Refuse a report that could not be stored: too long, too large, or holding NUL."""
    values: dict[str, Any] = {f.name: getattr(report, f.name) for f in fields(report)}
    if report.instrument is not None:
        for f in fields(report.instrument):
            values.setdefault(f.name, getattr(report.instrument, f.name))
    for name, value in values.items():
        _check_value(name, value)
    for execution in report.executions:
        _check_value("execution_id", execution.execution_id)
        _check_value("quantity", execution.quantity)
        _check_value("price", execution.price)
    for leg in report.legs:
        checked(leg)
    return report


def _check_value(name: str, value: Any) -> None:
    if isinstance(value, str):
        width = WIDTHS.get(name, 2000)
        if len(value) > width:
            raise InvalidRequest(f"{name} is {len(value)} characters long; at most {width} fit")
        if "\x00" in value:
            raise InvalidRequest(f"{name} holds a NUL character")
    elif isinstance(value, Decimal) and (not value.is_finite() or abs(value) >= LIMIT):
        raise InvalidRequest(f"{name} {value} is out of range (|x| < 10^12)")
