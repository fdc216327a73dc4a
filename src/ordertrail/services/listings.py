"""Read side for lists: orders (filters, keyset paging), trades and alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from ordertrail.errors import NotFound
from ordertrail.services.queries import iso, money, order_json
from ordertrail.services.views import Page
from ordertrail.storage.tables import alerts, orders, trades


@dataclass(frozen=True)
class OrderFilter:
    """Which orders to list, newest first; `before` is the keyset cursor (an order id)."""

    statuses: Sequence[str] = field(default_factory=tuple)
    broker: str | None = None
    account_id: str | None = None
    symbol: str | None = None
    external: bool | None = None
    side: str | None = None
    before: int | None = None
    limit: int = 100


def list_orders_page(connection: Connection, wanted: OrderFilter) -> Page:
    """List orders matching the filter, newest first, one page at a time."""
    query = select(orders)
    if wanted.statuses:
        query = query.where(orders.c.status.in_(list(wanted.statuses)))
    if wanted.broker:
        query = query.where(orders.c.broker == wanted.broker)
    if wanted.account_id:
        query = query.where(orders.c.account_id == wanted.account_id)
    if wanted.symbol:
        symbol = wanted.symbol.upper()
        query = query.where(or_(orders.c.symbol == symbol, orders.c.option_symbol == symbol))
    if wanted.external is not None:
        query = query.where(orders.c.external == wanted.external)
    if wanted.side:
        query = query.where(orders.c.side == wanted.side)
    if wanted.before is not None:
        query = query.where(orders.c.id < wanted.before)
    found = list(connection.execute(query.order_by(orders.c.id.desc()).limit(wanted.limit + 1)))
    rows = [order_json(row) for row in found[: wanted.limit]]
    more = len(found) > wanted.limit
    return Page(rows, rows[-1]["id"] if more and rows else None)


def trade_json(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """One trade with decimals as strings (from a row or a mapping of decoded values)."""
    r = row._mapping if isinstance(row, Row) else row
    instrument = r["instrument"] or {}
    return {
        "id": r["id"],
        "status": r["status"],
        "broker": r["broker"],
        "account_id": r["account_id"],
        "symbol": r["symbol"],
        "option_symbol": instrument.get("option_symbol"),
        "strike": instrument.get("strike"),
        "right": instrument.get("right"),
        "direction": r["direction"],
        "quantity": money(r["quantity"]),
        "open_quantity": money(r["quantity"] - r["exit_quantity"]),
        "entry_price": money(r["entry_price"]),
        "exit_quantity": money(r["exit_quantity"]),
        "exit_price": money(r["exit_price"]),
        "realized_pnl": money(r["realized_pnl"]),
        "opened_at": iso(r["opened_at"]),
        "closed_at": iso(r["closed_at"]),
        "broker_order_id_open": r["broker_order_id_open"],
        "broker_order_id_close": r["broker_order_id_close"],
        "updated_at": iso(r["updated_at"]),
    }


def list_trades(
    connection: Connection,
    status: str | None = None,
    symbol: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> Page:
    """List trades, newest first, optionally only OPEN or CLOSED ones."""
    query = select(trades)
    if status:
        query = query.where(trades.c.status == status)
    if symbol:
        query = query.where(trades.c.symbol == symbol.upper())
    if before is not None:
        query = query.where(trades.c.id < before)
    found = list(connection.execute(query.order_by(trades.c.id.desc()).limit(limit + 1)))
    rows = [trade_json(row) for row in found[:limit]]
    return Page(rows, rows[-1]["id"] if len(found) > limit and rows else None)


def get_trade(connection: Connection, trade_id: int) -> dict[str, Any]:
    """One trade with the orders that opened and closed it."""
    row = connection.execute(select(trades).where(trades.c.id == trade_id)).first()
    if row is None:
        raise NotFound(f"trade {trade_id} does not exist")
    linked = connection.execute(
        select(orders).where(orders.c.trade_id == trade_id).order_by(orders.c.id)
    )
    return trade_json(row) | {"orders": [order_json(o) for o in linked]}


def alert_json(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """One alert with its open flag and last order update (from a row or a mapping of
    decoded values)."""
    r = row._mapping if isinstance(row, Row) else row
    return {
        "id": r["id"],
        "source": r["source"],
        "key": r["key"],
        "symbol": r["symbol"],
        "open": bool(r["open"]),
        "strike": money(r["strike"]),
        "right": r["right"],
        "expiry": r["expiry"],
        "contract_id": r["contract_id"],
        "created_at": _text((r["document"] or {}).get("created_at")),
        "last_order_update": r["last_order_update"],
        "updated_at": iso(r["updated_at"]),
    }


def list_alerts(
    connection: Connection, source: str | None = None, open_only: bool | None = None
) -> list[dict[str, Any]]:
    """List alerts by alerter, then symbol."""
    query = select(alerts)
    if source:
        query = query.where(alerts.c.source == source)
    if open_only is not None:
        query = query.where(alerts.c.open == open_only)
    query = query.order_by(alerts.c.source, alerts.c.key, alerts.c.id)
    return [alert_json(row) for row in connection.execute(query)]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
