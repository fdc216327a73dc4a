"""Order events (append-only) and fills (unique per broker, account and execution id)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from ordertrail.domain.events import Fill, OrderEvent
from ordertrail.storage.tables import fills, order_events


class HistoryRepository:
    """Events and fills on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._c.execute(insert(order_events), list(rows))

    def add_fills(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._c.execute(insert(fills), list(rows))

    def fills_for(self, order_ids: Iterable[int]) -> dict[int, list[Fill]]:
        """Load recorded fills of the given orders, grouped by order id."""
        ids = sorted(set(order_ids))
        grouped: dict[int, list[Fill]] = defaultdict(list)
        for start in range(0, len(ids), 500):
            query = select(fills).where(fills.c.order_id.in_(ids[start : start + 500]))
            for row in self._c.execute(query):
                grouped[row.order_id].append(
                    Fill(
                        execution_id=row.execution_id,
                        quantity=row.quantity,
                        price=row.price,
                        executed_at=row.executed_at,
                        synthetic=row.synthetic,
                    )
                )
        return grouped


def event_row(order_id: int, seq: int, event: OrderEvent, recorded_at: datetime) -> dict[str, Any]:
    """The `order_events` row for one event."""
    return {
        "order_id": order_id,
        "seq": seq,
        "kind": event.kind.value,
        "status_before": event.status_before.value if event.status_before else None,
        "status_after": event.status_after.value,
        "broker_status": event.broker_status,
        "filled_quantity": event.filled_quantity,
        "avg_fill_price": event.avg_fill_price,
        "message": event.message,
        "source": event.source,
        "payload": event.payload,
        "broker_ts": event.broker_ts,
        "recorded_at": recorded_at,
    }


def fill_row(
    order_id: int, broker: str, account_id: str, fill: Fill, recorded_at: datetime
) -> dict[str, Any]:
    """The `fills` row for one fill."""
    return {
        "order_id": order_id,
        "broker": broker,
        "account_id": account_id,
        "execution_id": fill.execution_id,
        "quantity": fill.quantity,
        "price": fill.price,
        "synthetic": fill.synthetic,
        "executed_at": fill.executed_at,
        "recorded_at": recorded_at,
    }
