"""The orders repository: load orders for a batch of reports, insert, and write new state.

The apply path reads raw rows (`load_for_reports`: one query, whatever the batch size), decodes
only what it needs (`state_from_raw`, `order_from_raw`) and writes each kind of change with one
statement (`insert_many`, `save_changes`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, func, insert, or_, select, update

from ordertrail.domain.order import Order, OrderState, Placement
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.storage.codec import instrument_from_json, instrument_to_json
from ordertrail.storage.tables import orders
from ordertrail.storage.types import (
    Codec,
    JsonText,
    Money,
    UtcDateTime,
    dump_json,
    read_datetime,
    read_money,
)

COLUMNS = tuple(column.name for column in orders.columns)


def order_from_row(row: Row[Any] | Mapping[str, Any]) -> Order:
    """Build the domain order from an `orders` row."""
    r = row._mapping if isinstance(row, Row) else row
    state = OrderState(
        broker=r["broker"],
        account_id=r["account_id"],
        broker_order_id=r["broker_order_id"],
        status=OrderStatus(r["status"]),
        broker_status=r["broker_status"],
        filled_quantity=r["filled_quantity"],
        avg_fill_price=r["avg_fill_price"],
        quantity=r["quantity"],
        remaining_quantity=r["remaining_quantity"],
        limit_price=r["limit_price"],
        reason=r["reason"],
        last_broker_ts=r["last_broker_ts"],
        flags=frozenset(r["flags"] or ()),
    )
    return Order(
        id=r["id"],
        state=state,
        external=r["external"],
        client_order_id=r["client_order_id"],
        proposal_id=r["proposal_id"],
        trade_id=r["trade_id"],
        side=ProposalKind(r["side"]) if r["side"] else None,
        placement=Placement(r["placement"]) if r["placement"] else None,
        instrument=instrument_from_json(r["instrument"]) if r["instrument"] else None,
        broker_side=r["broker_side"],
        order_type=r["order_type"],
        event_seq=r["event_seq"],
        alert_match=r["alert_match"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def state_from_raw(row: Row[Any]) -> OrderState:
    """Decode the state columns of a raw row (as `load_for_reports` returns it)."""
    filled = read_money(row.filled_quantity)
    assert filled is not None
    return OrderState(
        broker=row.broker,
        account_id=row.account_id,
        broker_order_id=row.broker_order_id,
        status=OrderStatus(row.status),
        broker_status=row.broker_status,
        filled_quantity=filled,
        avg_fill_price=read_money(row.avg_fill_price),
        quantity=read_money(row.quantity),
        remaining_quantity=read_money(row.remaining_quantity),
        limit_price=read_money(row.limit_price),
        reason=row.reason,
        last_broker_ts=read_datetime(row.last_broker_ts),
        flags=frozenset(json.loads(row.flags) or ()) if row.flags != "[]" else frozenset(),
    )


def order_from_raw(row: Row[Any], state: OrderState) -> Order:
    """Decode the rest of a raw row around its already decoded state."""
    return Order(
        id=row.id,
        state=state,
        external=bool(row.external),
        client_order_id=row.client_order_id,
        proposal_id=row.proposal_id,
        trade_id=row.trade_id,
        side=ProposalKind(row.side) if row.side else None,
        placement=Placement(row.placement) if row.placement else None,
        instrument=instrument_from_json(json.loads(row.instrument)) if row.instrument else None,
        broker_side=row.broker_side,
        order_type=row.order_type,
        event_seq=row.event_seq,
        alert_match=json.loads(row.alert_match) if row.alert_match is not None else None,
        created_at=read_datetime(row.created_at),
        updated_at=read_datetime(row.updated_at),
    )


def state_values(state: OrderState) -> dict[str, Any]:
    """The columns an OrderState owns."""
    return {
        "broker": state.broker,
        "account_id": state.account_id,
        "broker_order_id": state.broker_order_id,
        "status": state.status.value,
        "broker_status": state.broker_status,
        "filled_quantity": state.filled_quantity,
        "avg_fill_price": state.avg_fill_price,
        "quantity": state.quantity,
        "remaining_quantity": state.remaining_quantity,
        "limit_price": state.limit_price,
        "reason": state.reason,
        "last_broker_ts": state.last_broker_ts,
        "flags": sorted(state.flags),
    }


def update_values(order: Order, at: datetime) -> dict[str, Any]:
    """Every column `save_state` writes for an order (before `extra`)."""
    values = state_values(order.state) | {
        "trade_id": order.trade_id,
        "event_seq": order.event_seq,
        "alert_match": order.alert_match,
        "placement": order.placement.value if order.placement else None,
        "updated_at": at,
    }
    if order.instrument is not None:
        values["instrument"] = instrument_to_json(order.instrument)
        values["symbol"] = order.instrument.symbol
        values["option_symbol"] = order.instrument.option_symbol
    return values


def _differences(before: Order, after: Order, codec: Codec) -> tuple[list[str], list[Any]]:
    """The columns `save_state` would write whose values differ from `before`, driver-native.

    Leaving equal values alone keeps the row as `save_state` leaves it (decimals compare by
    value and read back tidied) and spares SQLite the upkeep of indexes on unchanged columns.
    """
    names: list[str] = []
    values: list[Any] = []
    b, a = before.state, after.state
    money, when = codec.money, codec.when
    for name, old, new in (
        ("broker", b.broker, a.broker),
        ("account_id", b.account_id, a.account_id),
        ("broker_order_id", b.broker_order_id, a.broker_order_id),
        ("broker_status", b.broker_status, a.broker_status),
        ("reason", b.reason, a.reason),
        ("trade_id", before.trade_id, after.trade_id),
        ("event_seq", before.event_seq, after.event_seq),
    ):
        if new != old:
            names.append(name)
            values.append(new)
    if a.status is not b.status:
        names.append("status")
        values.append(a.status._value_)  # the plain attribute behind the `value` property
    for name, old_money, new_money in (
        ("filled_quantity", b.filled_quantity, a.filled_quantity),
        ("avg_fill_price", b.avg_fill_price, a.avg_fill_price),
        ("quantity", b.quantity, a.quantity),
        ("remaining_quantity", b.remaining_quantity, a.remaining_quantity),
        ("limit_price", b.limit_price, a.limit_price),
    ):
        if new_money != old_money:
            names.append(name)
            values.append(money(new_money))
    if a.last_broker_ts != b.last_broker_ts:
        names.append("last_broker_ts")
        values.append(when(a.last_broker_ts))
    if a.flags != b.flags:
        names.append("flags")
        values.append(dump_json(sorted(a.flags)))
    if after.alert_match != before.alert_match:
        names.append("alert_match")
        values.append(dump_json(after.alert_match))
    if after.placement is not before.placement:
        names.append("placement")
        values.append(after.placement.value if after.placement else None)
    what = after.instrument
    if what is not None and what != before.instrument:
        names += ["instrument", "symbol", "option_symbol"]
        values += [dump_json(instrument_to_json(what)), what.symbol, what.option_symbol]
    return names, values


class OrderRepository:
    """Orders on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    @property
    def codec(self) -> Codec:
        """Driver-native values for this connection's database."""
        return Codec(self._c.dialect.name)

    def next_ids(self, count: int) -> list[int]:
        """Reserve ids for orders this transaction will insert (see `next_ids`)."""
        return next_ids(self._c, orders, count)

    def get(self, order_id: int) -> Order | None:
        row = self._c.execute(select(orders).where(orders.c.id == order_id)).first()
        return order_from_row(row) if row else None

    def by_proposal(self, proposal_id: int) -> Order | None:
        row = self._c.execute(select(orders).where(orders.c.proposal_id == proposal_id)).first()
        return order_from_row(row) if row else None

    def for_reports(self, reports: Sequence[OrderReport]) -> list[Order]:
        """Load every order the reports may name (one query, whatever their number)."""
        rows = self.load_for_reports(reports, Codec(self._c.dialect.name))
        return [order_from_raw(row, state_from_raw(row)) for row in rows]

    def load_for_reports(self, reports: Sequence[OrderReport], codec: Codec) -> list[Row[Any]]:
        """Raw rows of every order the reports name by broker key or by client order id."""
        keys = sorted(
            {(r.broker, r.account_id, r.broker_order_id) for r in reports if r.broker_order_id}
        )
        client_ids = sorted({r.client_order_id for r in reports if r.client_order_id})
        if not keys and not client_ids:
            return []
        params: tuple[Any, ...]
        if codec.postgresql:
            by_key = (
                "SELECT o.id FROM unnest(%s::text[], %s::text[], %s::text[]) AS k(b, a, i) "
                "JOIN orders AS o ON o.broker = k.b AND o.account_id = k.a "
                "AND o.broker_order_id = k.i"
            )
            params = tuple(list(column) for column in zip(*keys, strict=True)) or ([], [], [])
        else:
            by_key = (
                "SELECT o.id FROM json_each(?) AS k JOIN orders AS o "
                "ON o.broker = json_extract(k.value, '$[0]') "
                "AND o.account_id = json_extract(k.value, '$[1]') "
                "AND o.broker_order_id = json_extract(k.value, '$[2]')"
            )
            params = (json.dumps(keys),)
        by_client = codec.select(orders, ("id",), f"client_order_id {codec.in_list('text')}")
        sql = codec.select(orders, COLUMNS, f"id IN ({by_key} UNION ALL {by_client}) ORDER BY id")
        return list(self._c.exec_driver_sql(sql, (*params, codec.list_param(client_ids))))

    def add(self, values: Mapping[str, Any]) -> int:
        """Insert an order row and return its id."""
        result = self._c.execute(insert(orders).values(**values).returning(orders.c.id))
        return int(result.scalar_one())

    def insert_many(self, rows: Sequence[Mapping[str, Any]], codec: Codec) -> None:
        """Insert order rows with their ids given (see `next_ids`), in one statement; a column
        a row does not name is NULL, as it would be if the row were inserted alone."""
        if not rows:
            return
        given = set().union(*rows)
        names = [column.name for column in orders.columns if column.name in given]
        binds = [_binder(orders.c[name].type, codec) for name in names]
        params = [tuple(b(row.get(n)) for n, b in zip(names, binds, strict=True)) for row in rows]
        self._c.exec_driver_sql(codec.insert(orders, names), params)

    def save_state(
        self, order: Order, *, at: datetime, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write an order's state, links and event counter."""
        values = update_values(order, at)
        values.update(extra or {})
        self._c.execute(update(orders).where(orders.c.id == order.id).values(**values))

    def save_changes(
        self, changes: Iterable[tuple[Order, Order]], at: datetime, codec: Codec
    ) -> None:
        """Write what `save_state` writes for many (before, after) orders, leaving columns
        whose values did not change alone: one statement per set of changed columns."""
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        stamp = codec.when(at)
        for before, after in changes:
            changed, values = _differences(before, after, codec)
            groups.setdefault((*changed, "updated_at"), []).append((*values, stamp, after.id))
        for names, params in groups.items():
            self._c.exec_driver_sql(codec.update(orders, names), params)

    def set_placement(self, order_id: int, placement: Placement, at: datetime) -> None:
        self._c.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(placement=placement.value, updated_at=at)
        )

    def working(self, broker: str, account_id: str) -> list[Order]:
        """Orders of one account that are not in a terminal status."""
        query = select(orders).where(
            and_(
                orders.c.broker == broker,
                orders.c.account_id == account_id,
                orders.c.status.in_(("PENDING", "PLACED", "PARTIAL")),
            )
        )
        return [order_from_row(row) for row in self._c.execute(query)]

    def awaiting_placement(self, broker: str, account_id: str) -> list[Order]:
        """Our orders recorded but never sent, or sent without a known outcome."""
        query = select(orders).where(
            and_(
                orders.c.broker == broker,
                orders.c.account_id == account_id,
                orders.c.status == "PENDING",
                or_(orders.c.placement == "recorded", orders.c.placement == "sending"),
            )
        )
        return [order_from_row(row) for row in self._c.execute(query)]

    def flag(self, order_ids: Iterable[int], flag: str, at: datetime) -> None:
        """Add a flag (such as `missing`) to orders without touching their status."""
        for order_id in order_ids:
            order = self.get(order_id)
            if order is None or flag in order.state.flags:
                continue
            self._c.execute(
                update(orders)
                .where(orders.c.id == order_id)
                .values(flags=sorted({*order.state.flags, flag}), updated_at=at)
            )


def next_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """Reserve `count` new ids of `table` for rows this transaction will insert.

    SQLite: the writer holds the database lock from `BEGIN IMMEDIATE`, so the ids after the
    largest are ours (what SQLite would pick itself). PostgreSQL: taken from the sequence.
    """
    if count <= 0:
        return []
    if connection.dialect.name == "postgresql":
        sql = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
        values = connection.exec_driver_sql(sql, (table.name, count))
        return sorted(int(value) for (value,) in values)
    last = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar()
    start = int(last or 0) + 1
    return list(range(start, start + count))


def _binder(sql_type: Any, codec: Codec) -> Any:
    """The driver-native conversion for one column type."""
    if isinstance(sql_type, Money):
        return codec.money
    if isinstance(sql_type, UtcDateTime):
        return codec.when
    if isinstance(sql_type, JsonText):
        return dump_json
    return _same


def _same(value: Any) -> Any:
    return value
