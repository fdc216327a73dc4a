"""Pure IBKR Client Portal mappings: status, side and order-type tables, rows into reports."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from ordertrail.brokers.ibkr.options import build_instrument
from ordertrail.brokers.ibkr.values import (
    decimal_or_none,
    from_compact,
    from_epoch_ms,
    from_trade_time,
    id_text,
    text_or_none,
)
from ordertrail.brokers.inactive import INACTIVE
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus

log = logging.getLogger(__name__)

BROKER = "ibkr"
ZERO = Decimal(0)

# BROKERS.md §2.6. No partial status exists: a working order with fills is PARTIAL.
STATUS_MAP: dict[str, OrderStatus] = {
    "Inactive": OrderStatus.PLACED,  # flagged; REJECTED given refusal text or after a grace
    "PendingSubmit": OrderStatus.PLACED,
    "PreSubmitted": OrderStatus.PLACED,  # accepted, not yet elected
    "Submitted": OrderStatus.PLACED,
    "WarnState": OrderStatus.PLACED,
    "PendingCancel": OrderStatus.PLACED,  # fills still possible
    "PreCancelled": OrderStatus.PLACED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,  # expiries and destination rejections look alike
    "Failed": OrderStatus.REJECTED,  # place answer only: a refused bracket child
}
SIDE_MAP: dict[str, str] = {
    "BUY": "buy",
    "B": "buy",
    "BOT": "buy",
    "SELL": "sell",
    "S": "sell",
    "SLD": "sell",
    "EXER": "exercise",
    "ASSN": "assignment",
}
ORDER_TYPE_MAP: dict[str, str] = {
    "MARKET": "market",
    "MKT": "market",
    "LIMIT": "limit",
    "LMT": "limit",
    "STOP": "stop",
    "STP": "stop",
    "STOPLIMIT": "stop_limit",
    "STOP_LIMIT": "stop_limit",
    "STPLMT": "stop_limit",
    "MARKETONCLOSE": "market_on_close",
    "MOC": "market_on_close",
    "LIMITONCLOSE": "limit_on_close",
    "LOC": "limit_on_close",
    "MIDPRICE": "midprice",
    "TRAIL": "trailing_stop",
    "TRAILLMT": "trailing_stop_limit",
}


def map_status(raw: str | None) -> OrderStatus | None:
    """Map an IBKR status word; an unknown word is logged and maps to None."""
    if raw is None:
        return None
    status = STATUS_MAP.get(raw)
    if status is None:
        log.warning("IBKR status %r is not mapped; keeping it raw", raw)
    return status


def map_side(raw: Any) -> str | None:
    """Map `BUY`/`B`/`BOT`... to our side words (unknown words are kept in lower case)."""
    text = text_or_none(raw)
    return None if text is None else SIDE_MAP.get(text.upper(), text.lower())


def map_order_type(raw: Any) -> str | None:
    """Map `Limit`/`LMT`/`MARKETONCLOSE`... to our order type words."""
    text = text_or_none(raw)
    if text is None:
        return None
    key = text.upper().replace(" ", "")
    return ORDER_TYPE_MAP.get(key, text.lower())


def canonical_status(
    raw: str | None, filled: Decimal | None, reason: str | None
) -> tuple[OrderStatus | None, frozenset[str]]:
    """Pick the canonical status and flags for a raw status, the filled quantity and a reason."""
    status = map_status(raw)
    flags = frozenset({INACTIVE}) if raw == "Inactive" else frozenset()
    if raw == "Inactive" and reason and not filled:
        status = OrderStatus.REJECTED
    if status is OrderStatus.PLACED and filled is not None and filled > ZERO:
        status = OrderStatus.PARTIAL
    return status, flags


def order_rows(body: Any) -> list[dict[str, Any]] | None:
    """Return the rows of `/iserver/account/orders` (`{"orders": [...]}` or a bare list)."""
    rows = body.get("orders") if isinstance(body, dict) else body
    if rows is None and isinstance(body, dict) and "snapshot" in body:
        return []
    if not isinstance(rows, list):
        return None
    return [row for row in rows if isinstance(row, dict)]


def row_account(row: Mapping[str, Any]) -> str | None:
    """Name the account a row, delta or trade belongs to (`acct`, `account`)."""
    return text_or_none(row.get("acct") or row.get("account") or row.get("accountCode"))


def parse_order_row(
    row: Mapping[str, Any],
    account_id: str,
    *,
    source: str = "poll",
    known: Mapping[str, Instrument] | None = None,
    raw: Mapping[str, Any] | None = None,
) -> OrderReport:
    """Turn a live-orders row or a (merged) `sor` row into a report; absent fields stay None.

    `raw` is what the report keeps as the broker's words (a `sor` delta), `row` by default."""
    filled = decimal_or_none(row.get("filledQuantity"))
    reason = text_or_none(row.get("order_cancellation_by_system_reason") or row.get("text"))
    raw_status = text_or_none(row.get("status"))
    status, flags = canonical_status(raw_status, filled, reason)
    broker_ts = from_epoch_ms(row.get("lastExecutionTime_r")) or from_compact(
        row.get("lastExecutionTime")
    )
    return OrderReport(
        broker=BROKER,
        account_id=account_id,
        broker_order_id=id_text(row.get("orderId")),
        status=status,
        broker_status=raw_status,
        client_order_id=text_or_none(row.get("order_ref")),
        filled_quantity=filled,
        avg_fill_price=decimal_or_none(row.get("avgPrice")),
        quantity=decimal_or_none(row.get("totalSize")),
        remaining_quantity=decimal_or_none(row.get("remainingQuantity")),
        limit_price=decimal_or_none(row.get("price")),
        instrument=build_instrument(
            row.get("secType"),
            row.get("ticker") or row.get("description1"),
            row.get("conid") or row.get("conidex"),
            (row.get("description2"), row.get("description1")),
            known,
        ),
        side=map_side(row.get("side")),
        order_type=map_order_type(row.get("orderType") or row.get("origOrderType")),
        reason=reason,
        derives_fills=False,
        broker_ts=broker_ts,
        source=source,
        flags=flags,
        raw=dict(row if raw is None else raw),
    )


def parse_order_status(
    body: Mapping[str, Any],
    account_id: str,
    *,
    known: Mapping[str, Instrument] | None = None,
) -> OrderReport:
    """Turn an `/iserver/account/order/status/{id}` answer (snake_case, string numbers)."""
    filled = decimal_or_none(body.get("cum_fill", body.get("filled_quantity")))
    raw_status = text_or_none(body.get("order_status"))
    reason = text_or_none(body.get("order_cancellation_by_system_reason"))
    status, flags = canonical_status(raw_status, filled, reason)
    average = body.get("average_price", body.get("avg_fill_price"))
    return OrderReport(
        broker=BROKER,
        account_id=account_id,
        broker_order_id=id_text(body.get("order_id")),
        status=status,
        broker_status=raw_status,
        filled_quantity=filled,
        avg_fill_price=decimal_or_none(average),
        quantity=decimal_or_none(body.get("total_size")),
        remaining_quantity=decimal_or_none(body.get("size")),
        limit_price=decimal_or_none(body.get("limit_price")),
        instrument=build_instrument(
            body.get("sec_type"),
            body.get("symbol") or body.get("contract_description_1"),
            body.get("conid") or body.get("conidex"),
            (body.get("contract_description_2"), body.get("contract_description_1")),
            known,
        ),
        side=map_side(body.get("side")),
        order_type=map_order_type(body.get("order_type")),
        reason=reason,
        derives_fills=False,
        broker_ts=from_compact(body.get("order_time")),
        source="lookup",
        flags=flags,
        raw=dict(body),
    )


def parse_execution(row: Mapping[str, Any]) -> Execution | None:
    """Turn one `/iserver/account/trades` or `str` row into an execution (None if unusable)."""
    execution_id = text_or_none(row.get("execution_id"))
    quantity = decimal_or_none(row.get("size"))
    price = decimal_or_none(row.get("price"))
    if execution_id is None or quantity is None or price is None:
        log.warning("IBKR trade row without id, size or price: %r", row)
        return None
    executed_at = from_epoch_ms(row.get("trade_time_r")) or from_trade_time(row.get("trade_time"))
    return Execution(execution_id, abs(quantity), price, executed_at)


def report_from_trades(
    rows: Iterable[Mapping[str, Any]],
    account_id: str,
    *,
    source: str = "poll",
    known: Mapping[str, Instrument] | None = None,
    broker_order_id: str | None = None,
) -> OrderReport | None:
    """Describe an order by its trade rows alone: executions, no status, no cumulative numbers."""
    rows = list(rows)
    executions = tuple(e for e in (parse_execution(row) for row in rows) if e is not None)
    if not rows or not executions:
        return None
    first = rows[0]
    times = [e.executed_at for e in executions if e.executed_at is not None]
    return OrderReport(
        broker=BROKER,
        account_id=account_id,
        broker_order_id=broker_order_id or id_text(first.get("order_id")),
        client_order_id=text_or_none(first.get("order_ref")),
        instrument=trade_instrument(first, known),
        side=map_side(first.get("side")),
        executions=executions,
        derives_fills=False,
        broker_ts=max(times) if times else None,
        source=source,
        raw={"trades": [dict(row) for row in rows]},
    )


def trade_instrument(
    row: Mapping[str, Any], known: Mapping[str, Instrument] | None = None
) -> Instrument | None:
    """Describe what a trade row traded."""
    return build_instrument(
        row.get("sec_type"),
        row.get("symbol") or row.get("contract_description_1"),
        row.get("conid") or row.get("conidEx") or row.get("conidex"),
        (row.get("contract_description_2"), row.get("contract_description_1")),
        known,
    )


def with_executions(report: OrderReport, executions: Iterable[Execution]) -> OrderReport:
    """Add executions to a report, keeping each execution id once."""
    merged = {e.execution_id: e for e in report.executions}
    for execution in executions:
        merged.setdefault(execution.execution_id, execution)
    return replace(report, executions=tuple(merged.values()))
