"""Order events (append-only) and fills (unique per broker, account and execution id)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from ordertrail.domain.events import Fill, OrderEvent
from ordertrail.storage import driver
from ordertrail.storage.bulk import insert_rows
from ordertrail.storage.tables import fills, order_events
from ordertrail.storage.types import Codec, read_datetime, read_money

EVENT_COLUMNS = tuple(c.name for c in order_events.columns if c.name != "id")
FILL_COLUMNS = tuple(c.name for c in fills.columns if c.name != "id")


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

    def insert_event_params(self, params: list[tuple[Any, ...]], codec: Codec) -> None:
        """Insert driver-native event rows (`EVENT_COLUMNS` order) in one statement."""
        insert_rows(self._c, order_events, EVENT_COLUMNS, params, codec)

    def insert_fill_params(self, params: list[tuple[Any, ...]], codec: Codec) -> None:
        """Insert driver-native fill rows (`FILL_COLUMNS` order) in one statement; the unique
        execution key refuses a fill recorded twice."""
        insert_rows(self._c, fills, FILL_COLUMNS, params, codec)

    def move(self, source_id: int, order_id: int, seq_offset: int) -> None:
        """Give one order's events (numbered after `seq_offset`) and fills to another."""
        self._c.execute(
            update(order_events)
            .where(order_events.c.order_id == source_id)
            .values(order_id=order_id, seq=order_events.c.seq + seq_offset)
        )
        self._c.execute(
            update(fills).where(fills.c.order_id == source_id).values(order_id=order_id)
        )

    def recorded_executions(
        self, order_ids: Iterable[int], wanted: Iterable[tuple[str, str, str]]
    ) -> dict[int, set[str]]:
        """Which of the `wanted` executions (broker, account, execution id) are recorded for
        the given orders, by order id: one query, an index lookup per execution."""
        orders = set(order_ids)
        by_account: dict[tuple[str, str], set[str]] = defaultdict(set)
        for broker, account_id, execution_id in wanted:
            by_account[(broker, account_id)].add(execution_id)
        if not orders or not by_account:
            return {}
        codec = Codec(self._c.dialect.name)
        m = codec.mark
        conditions, params = [], []
        for (broker, account_id), ids in sorted(by_account.items()):
            conditions.append(
                f"(broker = {m} AND account_id = {m} AND execution_id {codec.any_of('text')})"
            )
            params += [broker, account_id, codec.list_param(sorted(ids))]
        sql = codec.select(fills, ("order_id", "execution_id"), " OR ".join(conditions))
        found: dict[int, set[str]] = defaultdict(set)
        for order_id, execution_id in driver.rows(self._c, sql, params):
            if order_id in orders:
                found[order_id].add(execution_id)
        return found

    def fills_for(self, order_ids: Iterable[int]) -> dict[int, list[Fill]]:
        """Load recorded fills of the given orders, grouped by order id (one query)."""
        ids = sorted(set(order_ids))
        grouped: dict[int, list[Fill]] = defaultdict(list)
        if not ids:
            return grouped
        codec = Codec(self._c.dialect.name)
        columns = ("order_id", "execution_id", "quantity", "price", "executed_at", "synthetic")
        sql = codec.select(fills, columns, f"order_id {codec.in_list('bigint')} ORDER BY id")
        for order_id, execution_id, amount, paid, executed_at, synthetic in driver.rows(
            self._c, sql, (codec.list_param(ids),)
        ):
            quantity, price = read_money(amount), read_money(paid)
            assert quantity is not None and price is not None
            grouped[order_id].append(
                Fill(
                    execution_id=execution_id,
                    quantity=quantity,
                    price=price,
                    executed_at=read_datetime(executed_at),
                    synthetic=bool(synthetic),
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


def event_params(
    order_id: int, seq: int, event: OrderEvent, payload: str | None, recorded_at: Any, codec: Codec
) -> tuple[Any, ...]:
    """`event_row` as driver-native values in `EVENT_COLUMNS` order (payload already JSON,
    `recorded_at` already converted: both are shared by many rows)."""
    return (
        order_id,
        seq,
        event.kind._value_,  # `_value_`: the plain attribute behind the `value` property
        event.status_before._value_ if event.status_before else None,
        event.status_after._value_,
        event.broker_status,
        codec.money(event.filled_quantity),
        codec.money(event.avg_fill_price),
        event.message,
        event.source,
        payload,
        codec.when(event.broker_ts),
        recorded_at,
    )


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


def fill_params(
    order_id: int, broker: str, account_id: str, fill: Fill, recorded_at: Any, codec: Codec
) -> tuple[Any, ...]:
    """`fill_row` as driver-native values in `FILL_COLUMNS` order."""
    return (
        order_id,
        broker,
        account_id,
        fill.execution_id,
        codec.money(fill.quantity),
        codec.money(fill.price),
        fill.synthetic,
        codec.when(fill.executed_at),
        recorded_at,
    )
