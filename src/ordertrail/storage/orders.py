"""The orders repository: load orders for a batch of reports, insert, and write new state.

The apply path reads raw rows (`load_for_reports`: one query, whatever the batch size), decodes
only what it needs (`state_from_raw`, `order_from_raw`) and writes each kind of change with one
statement (`insert_many`, `save_changes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from ordertrail.domain.order import Order, Placement
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.storage import driver
from ordertrail.storage.bulk import update_rows
from ordertrail.storage.order_rows import (
    COLUMNS,
    LEAN,
    MONEY,
    differences,
    order_from_raw,
    order_from_row,
    state_from_raw,
    state_values,
    update_values,
)
from ordertrail.storage.tables import orders
from ordertrail.storage.types import Codec, JsonText, Money, UtcDateTime, dump_json, read_money

__all__ = ["OrderRepository", "next_ids", "order_from_raw", "state_from_raw", "state_values"]


_LAST_ID = {
    "orders": "SELECT coalesce(max(id), 0) FROM orders",
    "trades": "SELECT coalesce(max(id), 0) FROM trades",
}


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
        rows = self.load_for_reports(reports, self.codec)
        return [order_from_raw(row, state_from_raw(row)) for row in rows]

    def load_for_reports(
        self, reports: Sequence[OrderReport], codec: Codec, columns: Sequence[str] = COLUMNS
    ) -> list[Any]:
        """Raw rows (`columns`, in id order) of every order the reports name by broker key or
        by client order id: one statement (an index lookup per key, whatever their number;
        the two kinds of key are ORed, hence `any_of`)."""
        wanted: dict[tuple[str, str], set[str | None]] = {}
        accounts = {(r.broker, r.account_id) for r in reports}
        if len(accounts) == 1:  # the usual batch: one account's list or stream
            wanted[accounts.pop()] = {r.broker_order_id for r in reports}
        else:
            for report in reports:
                wanted.setdefault((report.broker, report.account_id), set()).add(
                    report.broker_order_id
                )
        client_ids = {r.client_order_id for r in reports} - {None, ""}
        conditions: list[str] = []
        params: list[Any] = []
        m = codec.mark
        for (broker, account_id), named in sorted(wanted.items()):
            broker_ids = named - {None, ""}
            if not broker_ids:
                continue
            by_key = f"broker = {m} AND account_id = {m} AND broker_order_id {codec.any_of('text')}"
            conditions.append(f"({by_key})")
            params += [broker, account_id, codec.list_param(sorted(broker_ids))]
        if client_ids:
            conditions.append(f"client_order_id {codec.any_of('text')}")
            params.append(codec.list_param(sorted(client_ids)))
        if not conditions:
            return []
        condition = " OR ".join(conditions) + " ORDER BY id"
        sql = codec.select(orders, columns, condition, as_text=MONEY if columns == LEAN else ())
        return driver.rows(self._c, sql, params)

    def load_rows(self, order_ids: Iterable[int], codec: Codec) -> list[Any]:
        """Raw rows (`COLUMNS`) of the given orders, in id order, in one query."""
        ids = sorted(set(order_ids))
        if not ids:
            return []
        sql = codec.select(orders, COLUMNS, f"id {codec.in_list('bigint')} ORDER BY id")
        return driver.rows(self._c, sql, (codec.list_param(ids),))

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
        driver.run_many(self._c, codec.insert(orders, names), params)

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
            changed, values = differences(before, after, codec)
            groups.setdefault((*changed, "updated_at"), []).append((*values, stamp, after.id))
        for names, params in groups.items():
            update_rows(self._c, orders, names, params, codec)

    def set_placement(
        self,
        order_id: int,
        placement: Placement,
        at: datetime,
        *,
        only_from: Placement | None = None,
    ) -> bool:
        """Mark how far placing an order got; with `only_from`, only a PENDING order still
        marked so (another writer may have withdrawn it meanwhile). Say whether it was marked."""
        statement = update(orders).where(orders.c.id == order_id)
        if only_from is not None:
            statement = statement.where(
                orders.c.placement == only_from.value,
                orders.c.status == OrderStatus.PENDING.value,
            )
        marked = self._c.execute(statement.values(placement=placement.value, updated_at=at))
        return bool(marked.rowcount)

    def working(self, broker: str, account_id: str) -> list[tuple[int, str | None]]:
        """(id, broker order id) of each order of one account not in a terminal status, in id
        order: what a sync needs to look up the ones the broker's list leaves out."""
        codec = self.codec
        condition = (
            f"broker = {codec.mark} AND account_id = {codec.mark} "
            "AND status IN ('PENDING', 'PLACED', 'PARTIAL')"
        )
        sql = codec.select(orders, ("id", "broker_order_id"), condition)
        rows = driver.rows(self._c, sql, (broker, account_id))
        return sorted((row[0], row[1]) for row in rows)  # see `_where` for why not in SQL

    def exit_fills(
        self, trade_ids: Iterable[int]
    ) -> list[tuple[int, int, Decimal, Decimal | None]]:
        """(order id, trade id, filled quantity, average price) of every EXIT order of these
        trades, in one query: what a trade's exit adds up."""
        ids = sorted(set(trade_ids))
        if not ids:
            return []
        codec = self.codec
        condition = f"trade_id {codec.in_list('bigint')} AND side = 'EXIT'"
        columns = ("id", "trade_id", "filled_quantity", "avg_fill_price")
        sql = codec.select(orders, columns, condition, as_text=MONEY)
        rows = driver.rows(self._c, sql, (codec.list_param(ids),))
        found = []
        for order_id, trade_id, filled, average in rows:
            quantity = read_money(filled)
            assert quantity is not None
            found.append((order_id, trade_id, quantity, read_money(average)))
        return found

    def exits_outstanding(self, trade_id: int, besides: int | None = None) -> Decimal:
        """How much the working EXIT orders of a trade (but order `besides`) may still take
        out (ordered, not yet filled): what a further EXIT of the trade must leave room for."""
        query = select(orders.c.quantity, orders.c.filled_quantity).where(
            orders.c.trade_id == trade_id,
            orders.c.side == "EXIT",
            orders.c.status.in_(("PENDING", "PLACED", "PARTIAL")),
        )
        if besides is not None:
            query = query.where(orders.c.id != besides)
        rows = self._c.execute(query)
        return sum(
            (max((quantity or filled) - filled, Decimal(0)) for quantity, filled in rows),
            Decimal(0),
        )

    def awaiting_placement(self, broker: str, account_id: str) -> list[Order]:
        """Our orders recorded but never sent, or sent without a known outcome."""
        return self._where(
            "broker = {m} AND account_id = {m} AND status = 'PENDING' "
            "AND placement IN ('recorded', 'sending')",
            (broker, account_id),
        )

    def _where(self, condition: str, params: tuple[Any, ...]) -> list[Order]:
        """Orders matching a condition (`{m}` marks the parameters), in id order.

        Sorted here, not in SQL: SQLite, which knows only average counts per status, would
        rather read the whole table in id order than look the few working orders up.
        """
        codec = self.codec
        sql = codec.select(orders, COLUMNS, condition.format(m=codec.mark))
        rows = sorted(driver.rows(self._c, sql, params), key=lambda row: row[0])
        return [order_from_raw(row, state_from_raw(row)) for row in rows]

    def delete(self, order_id: int) -> None:
        """Remove an order row whose events and fills have moved to another order."""
        self._c.execute(delete(orders).where(orders.c.id == order_id))

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
        values = driver.rows(connection, sql, (table.name, count))
        return sorted(int(value) for (value,) in values)
    ((last,),) = driver.rows(connection, _LAST_ID[table.name])
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
