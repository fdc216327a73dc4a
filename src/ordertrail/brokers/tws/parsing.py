"""Pure TWS mappings: the status table and ib_async trades, fills and contracts into reports."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ordertrail.brokers.inactive import INACTIVE
from ordertrail.domain.instrument import Instrument, SecType, option_instrument
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus

log = logging.getLogger(__name__)

BROKER = "tws"
ZERO = Decimal(0)
UNSET = 1e300  # ib_async marks unset doubles with sys.float_info.max

# BROKERS.md §3. ib_async sets PendingSubmit itself in placeOrder: without a permId it is
# ours alone (PENDING); with one, TWS said it.
STATUS_MAP: dict[str, OrderStatus] = {
    "ApiPending": OrderStatus.PENDING,
    "PendingSubmit": OrderStatus.PLACED,
    "PreSubmitted": OrderStatus.PLACED,
    "Submitted": OrderStatus.PLACED,
    "ApiUpdate": OrderStatus.PLACED,
    "ValidationError": OrderStatus.PLACED,  # a warning; the order is still live
    "PendingCancel": OrderStatus.PLACED,  # fills still possible
    "ApiCancelled": OrderStatus.CANCELLED,
    "Cancelled": OrderStatus.CANCELLED,  # after error 10349 fills may still follow
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.PLACED,  # flagged, like the Client Portal's Inactive
}
SIDE_MAP: dict[str, str] = {"BUY": "buy", "BOT": "buy", "SELL": "sell", "SLD": "sell"}
ORDER_TYPE_MAP: dict[str, str] = {
    "MKT": "market",
    "LMT": "limit",
    "STP": "stop",
    "STP LMT": "stop_limit",
    "MOC": "market_on_close",
    "LOC": "limit_on_close",
    "TRAIL": "trailing_stop",
    "TRAIL LIMIT": "trailing_stop_limit",
    "MIDPRICE": "midprice",
}
SEC_TYPE_MAP: dict[str, SecType] = {
    "STK": SecType.STOCK,
    "OPT": SecType.OPTION,
    "BAG": SecType.MULTILEG,
}


def execution_key(exec_id: str) -> str:
    """Name an execution so a correction (`….01` → `….02`) is the same one: drop the last part."""
    head, dot, _ = exec_id.rpartition(".")
    return head if dot and head else exec_id


def number(value: Any) -> Decimal | None:
    """Read an ib_async float (None when unset)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, float) and abs(value) >= UNSET:
            return None
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def utc(value: Any) -> datetime | None:
    """Make an ib_async time aware UTC (None for its `datetime.min` placeholder)."""
    if not isinstance(value, datetime) or value.year < 1971:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def map_status(raw: str, perm_id: int) -> OrderStatus | None:
    """Map a TWS status; an unknown word is logged and maps to None."""
    if raw == "PendingSubmit" and not perm_id:
        return OrderStatus.PENDING
    status = STATUS_MAP.get(raw)
    if status is None and raw:
        log.warning("TWS status %r is not mapped; keeping it raw", raw)
    return status


def instrument_from_contract(contract: Any) -> Instrument | None:
    """Describe an ib_async `Contract` (options keep their own conId)."""
    if contract is None or not getattr(contract, "symbol", ""):
        return None
    kind = SEC_TYPE_MAP.get(getattr(contract, "secType", ""), SecType.OTHER)
    con_id = getattr(contract, "conId", 0)
    contract_id = str(con_id) if con_id else None
    if kind is SecType.OPTION:
        strike = number(contract.strike)
        right = (contract.right or "")[:1].upper()
        if strike is not None and right in ("C", "P"):
            expiry = _expiry(contract.lastTradeDateOrContractMonth)
            return option_instrument(contract.symbol, strike, right, expiry, contract_id)
    return Instrument(symbol=contract.symbol.upper(), sec_type=kind, contract_id=contract_id)


def execution_from_fill(fill: Any) -> Execution | None:
    """Turn an ib_async `Fill` into an execution keyed to survive corrections."""
    execution = fill.execution
    quantity, price = number(execution.shares), number(execution.price)
    if not execution.execId or quantity is None or price is None:
        return None
    when = utc(execution.time) or utc(getattr(fill, "time", None))
    return Execution(execution_key(execution.execId), abs(quantity), price, when)


def executions_of(fills: Iterable[Any], bag: bool = False) -> tuple[Execution, ...]:
    """Executions of some fills, each key once, corrected numbers winning.

    A combo counts its own fills, not its legs'.
    """
    found: dict[str, Execution] = {}
    for fill in fills:
        if bag and getattr(fill.contract, "secType", "") != "BAG":
            continue
        execution = execution_from_fill(fill)
        if execution is not None:
            found[execution.execution_id] = execution  # a correction replaces the original
    return tuple(found.values())


def perm_id_of(trade: Any) -> int:
    """The durable id TWS gave the order (0 until it answered)."""
    return int(trade.order.permId or trade.orderStatus.permId or 0)


def report_from_trade(trade: Any, account_id: str, *, source: str = "poll") -> OrderReport:
    """Describe an ib_async `Trade`: status, numbers, reason and its executions."""
    order, status_row = trade.order, trade.orderStatus
    perm_id = perm_id_of(trade)
    raw_status = status_row.status or ""
    filled, avg, remaining = _amounts(order, status_row)
    reason = _reason(trade.log)
    status = map_status(raw_status, perm_id)
    if raw_status == "Inactive" and reason and not filled:
        status = OrderStatus.REJECTED
    if status is OrderStatus.PLACED and filled:
        status = OrderStatus.PARTIAL
    order_type = (order.orderType or "").upper()
    limit = number(order.lmtPrice) if "LMT" in order_type or "LIMIT" in order_type else None
    times = [t for t in (utc(entry.time) for entry in trade.log) if t is not None]
    return OrderReport(
        broker=BROKER,
        account_id=account_id,
        broker_order_id=str(perm_id) if perm_id else None,
        status=status,
        broker_status=raw_status or None,
        client_order_id=order.orderRef or None,
        filled_quantity=filled,
        avg_fill_price=avg,
        quantity=number(order.totalQuantity),
        remaining_quantity=remaining,
        limit_price=limit or None,
        instrument=instrument_from_contract(trade.contract),
        side=SIDE_MAP.get((order.action or "").upper()),
        order_type=ORDER_TYPE_MAP.get(order_type, order_type.lower() or None),
        reason=reason,
        executions=executions_of(trade.fills, bag=trade.contract.secType == "BAG"),
        derives_fills=False,
        broker_ts=max(times) if times else None,
        source=source,
        flags=frozenset({INACTIVE}) if raw_status == "Inactive" else frozenset(),
        raw=_raw(trade, perm_id),
    )


def report_from_fills(fills: list[Any], account_id: str, *, source: str = "poll") -> OrderReport:
    """Describe an order known only by its fills (its trade is gone after a reconnect)."""
    first = fills[0].execution
    executions = executions_of(fills)
    times = [e.executed_at for e in executions if e.executed_at is not None]
    return OrderReport(
        broker=BROKER,
        account_id=account_id,
        broker_order_id=str(first.permId) if first.permId else None,
        client_order_id=first.orderRef or None,
        instrument=instrument_from_contract(fills[0].contract),
        side=SIDE_MAP.get((first.side or "").upper()),
        executions=executions,
        derives_fills=False,
        broker_ts=max(times) if times else None,
        source=source,
        raw={"execIds": [f.execution.execId for f in fills], "permId": first.permId},
    )


def _amounts(order: Any, status_row: Any) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """Filled, average price and remaining of a trade.

    A trade ib_async reloads as a completed order (after a reconnect) has an empty status
    row, 0 filled and 0 remaining: the quantity filled is on its order then, the average
    price nowhere (its executions carry the prices)."""
    filled = number(status_row.filled)
    if filled:
        return filled, number(status_row.avgFillPrice), number(status_row.remaining)
    carried = number(getattr(order, "filledQuantity", None))
    if not carried:
        return filled, None, number(status_row.remaining)
    total = number(order.totalQuantity)
    return carried, None, None if total is None else max(total - carried, ZERO)


def _reason(entries: Iterable[Any]) -> str | None:
    errors = [e.message for e in entries if getattr(e, "errorCode", 0) and e.message]
    return errors[-1] if errors else None


def _expiry(text: str) -> date | None:
    digits = (text or "")[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def _raw(trade: Any, perm_id: int) -> dict[str, Any]:
    status = trade.orderStatus
    return {
        "orderId": trade.order.orderId,
        "clientId": trade.order.clientId,
        "permId": perm_id,
        "orderRef": trade.order.orderRef,
        "status": status.status,
        "filled": status.filled,
        "remaining": status.remaining,
        "avgFillPrice": status.avgFillPrice,
        "whyHeld": status.whyHeld,
        "log": [
            {"time": str(e.time), "status": e.status, "message": e.message, "code": e.errorCode}
            for e in trade.log
        ],
    }
