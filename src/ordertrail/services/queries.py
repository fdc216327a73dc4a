"""Read side: orders, events and fills as the CLI and the API show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Row, select

from ordertrail.errors import NotFound
from ordertrail.storage.tables import MAX_ID, fills, order_events, orders


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


# The columns `order_json` reads: a reader that only renders orders selects just these.
ORDER_JSON_COLUMNS = (
    "id",
    "broker",
    "account_id",
    "broker_order_id",
    "client_order_id",
    "side",
    "status",
    "broker_status",
    "symbol",
    "option_symbol",
    "quantity",
    "filled_quantity",
    "remaining_quantity",
    "avg_fill_price",
    "proposal_id",
    "trade_id",
    "external",
    "flags",
    "created_at",
    "updated_at",
)


def order_json(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """One order as `orders list --json` prints it (decimals as strings), from a row or a
    mapping of decoded column values (`ORDER_JSON_COLUMNS` at least)."""
    r = row._mapping if isinstance(row, Row) else row
    return {
        "id": r["id"],
        "broker": r["broker"],
        "account_id": r["account_id"],
        "broker_order_id": r["broker_order_id"],
        "client_order_id": r["client_order_id"],
        "side": r["side"],
        "status": r["status"],
        "broker_status": r["broker_status"],
        "symbol": r["symbol"],
        "option_symbol": r["option_symbol"],
        "quantity": _money(r["quantity"]),
        "filled_quantity": _money(r["filled_quantity"]),
        "remaining_quantity": _money(r["remaining_quantity"]),
        "avg_fill_price": _money(r["avg_fill_price"]),
        "proposal_id": r["proposal_id"],
        "trade_id": r["trade_id"],
        "external": bool(r["external"]),
        "flags": list(r["flags"] or []),
        "created_at": r["created_at"].isoformat(),
        "updated_at": r["updated_at"].isoformat(),
    }


def list_orders(connection: Connection, limit: int = 500) -> list[dict[str, Any]]:
    """Newest orders first."""
    query = select(orders).order_by(orders.c.id.desc()).limit(limit)
    return [order_json(row) for row in connection.execute(query)]


def find_order(connection: Connection, ref: str) -> dict[str, Any]:
    """Find an order by local id, broker order id or client order id."""
    conditions = [orders.c.broker_order_id == ref, orders.c.client_order_id == ref]
    if ref.isdigit() and int(ref) <= MAX_ID:
        conditions.insert(0, orders.c.id == int(ref))
    for condition in conditions:
        row = connection.execute(select(orders).where(condition).order_by(orders.c.id)).first()
        if row is not None:
            return order_json(row)
    raise NotFound(f"no order with id, broker order id or client order id {ref!r}")


def order_timeline(connection: Connection, order_id: int) -> list[dict[str, Any]]:
    """Every event of one order, in order, with its raw payload."""
    query = select(order_events).where(order_events.c.order_id == order_id)
    return [
        {
            "seq": row.seq,
            "kind": row.kind,
            "status_before": row.status_before,
            "status_after": row.status_after,
            "broker_status": row.broker_status,
            "filled_quantity": _money(row.filled_quantity),
            "avg_fill_price": _money(row.avg_fill_price),
            "message": row.message,
            "source": row.source,
            "payload": row.payload,
            "broker_ts": row.broker_ts.isoformat() if row.broker_ts else None,
            "recorded_at": row.recorded_at.isoformat(),
        }
        for row in connection.execute(query.order_by(order_events.c.seq))
    ]


def order_fills(connection: Connection, order_id: int) -> list[dict[str, Any]]:
    """The fills of one order."""
    query = select(fills).where(fills.c.order_id == order_id).order_by(fills.c.id)
    return [
        {
            "execution_id": row.execution_id,
            "quantity": _money(row.quantity),
            "price": _money(row.price),
            "synthetic": row.synthetic,
            "executed_at": row.executed_at.isoformat() if row.executed_at else None,
        }
        for row in connection.execute(query)
    ]


def money(value: Decimal | None) -> str | None:
    """Write a decimal as a plain string (None stays None)."""
    return _money(value)


def iso(value: datetime | None) -> str | None:
    """Write an aware datetime in ISO 8601 (None stays None)."""
    return value.isoformat() if value is not None else None


def get_order(connection: Connection, order_id: int) -> dict[str, Any]:
    """One order by local id; NotFound names the id."""
    row = connection.execute(select(orders).where(orders.c.id == order_id)).first()
    if row is None:
        raise NotFound(f"order {order_id} does not exist")
    return order_json(row)


def find_broker_order(
    connection: Connection, broker: str, account_id: str, broker_order_id: str
) -> dict[str, Any] | None:
    """One order by its broker key, or None."""
    query = select(orders).where(
        orders.c.broker == broker,
        orders.c.account_id == account_id,
        orders.c.broker_order_id == broker_order_id,
    )
    row = connection.execute(query).first()
    return order_json(row) if row is not None else None
