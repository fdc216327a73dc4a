"""Read side for the Status page: per-account sync state and counts of what is stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from ordertrail.services.queries import iso
from ordertrail.storage.tables import alerts, orders, proposals, sync_state, trades


def sync_states(connection: Connection) -> list[dict[str, Any]]:
    """Every account's last poll, reconcile, stream state and error, as stored."""
    query = select(sync_state).order_by(sync_state.c.broker, sync_state.c.account_id)
    return [
        {
            "broker": row.broker,
            "account_id": row.account_id,
            "last_polled_at": iso(row.last_polled_at),
            "last_reconciled_at": iso(row.last_reconciled_at),
            "stream_state": row.stream_state,
            "last_error": row.last_error,
            "updated_at": iso(row.updated_at),
        }
        for row in connection.execute(query)
    ]


def counts(connection: Connection) -> dict[str, dict[str, int]]:
    """How many orders, trades, proposals and alerts there are, by status."""
    found: dict[str, dict[str, int]] = {}
    for name, column in (
        ("orders", orders.c.status),
        ("trades", trades.c.status),
        ("proposals", proposals.c.status),
        ("alerts", alerts.c.open),
    ):
        query = select(column, func.count()).group_by(column).order_by(column)
        found[name] = {_label(value): int(n) for value, n in connection.execute(query)}
    external = select(func.count()).select_from(orders).where(orders.c.external.is_(True))
    found["unmatched"] = {"external orders": int(connection.execute(external).scalar_one())}
    return found


def _label(value: object) -> str:
    if isinstance(value, bool):
        return "open" if value else "closed"
    return str(value)
