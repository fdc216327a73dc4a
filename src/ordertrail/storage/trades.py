"""The trades repository (one at a time, or many in one statement for the apply path)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ordertrail.domain.copying import changed
from ordertrail.domain.trade import Direction, Trade, TradeStatus
from ordertrail.storage import driver
from ordertrail.storage.bulk import update_rows
from ordertrail.storage.codec import instrument_from_json, instrument_to_json
from ordertrail.storage.orders import next_ids
from ordertrail.storage.tables import trades
from ordertrail.storage.types import Codec, dump_json, read_datetime, read_money, tidy

_COLUMNS = (
    "status", "broker", "account_id", "symbol", "instrument", "direction", "quantity",
    "entry_price", "exit_quantity", "exit_price", "realized_pnl", "opened_at", "closed_at",
    "broker_order_id_open", "broker_order_id_close",
)  # fmt: skip


def trade_from_row(row: Any) -> Trade:
    """Build the domain trade from a `trades` row."""
    return Trade(
        id=row.id,
        status=TradeStatus(row.status),
        broker=row.broker,
        account_id=row.account_id,
        instrument=instrument_from_json(row.instrument),
        direction=Direction(row.direction),
        quantity=row.quantity,
        entry_price=row.entry_price,
        exit_quantity=row.exit_quantity,
        exit_price=row.exit_price,
        realized_pnl=row.realized_pnl,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        broker_order_id_open=row.broker_order_id_open,
        broker_order_id_close=row.broker_order_id_close,
    )


def trade_from_raw(row: Mapping[str, Any]) -> Trade:
    """Build the domain trade from a raw `trades` row, by column name (no type processing)."""
    return trade_from_row(_Decoded(row))


class _Decoded:
    """A raw trades row read through the column types."""

    _MONEY = frozenset({"quantity", "entry_price", "exit_quantity", "exit_price", "realized_pnl"})

    def __init__(self, row: Mapping[str, Any]) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        value = self._row[name]
        if name in self._MONEY:
            return read_money(value)
        if name in ("opened_at", "closed_at"):
            return read_datetime(value)
        if name == "instrument":
            return json.loads(value)
        return value


def as_stored(trade: Trade) -> Trade:
    """The trade as reading it back after writing it would show it (decimals tidied)."""
    return changed(
        trade,
        quantity=tidy(trade.quantity),
        entry_price=_tidy(trade.entry_price),
        exit_quantity=tidy(trade.exit_quantity),
        exit_price=_tidy(trade.exit_price),
        realized_pnl=_tidy(trade.realized_pnl),
    )


def _tidy(value: Decimal | None) -> Decimal | None:
    return None if value is None else tidy(value)


def _values(trade: Trade) -> dict[str, Any]:
    return {
        "status": trade.status.value,
        "broker": trade.broker,
        "account_id": trade.account_id,
        "symbol": trade.instrument.symbol,
        "instrument": instrument_to_json(trade.instrument),
        "direction": trade.direction.value,
        "quantity": trade.quantity,
        "entry_price": trade.entry_price,
        "exit_quantity": trade.exit_quantity,
        "exit_price": trade.exit_price,
        "realized_pnl": trade.realized_pnl,
        "opened_at": trade.opened_at,
        "closed_at": trade.closed_at,
        "broker_order_id_open": trade.broker_order_id_open,
        "broker_order_id_close": trade.broker_order_id_close,
    }


class TradeRepository:
    """Trades on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def next_ids(self, count: int) -> list[int]:
        """Reserve ids for trades this transaction will insert."""
        return next_ids(self._c, trades, count)

    def get(self, trade_id: int) -> Trade | None:
        row = self._c.execute(select(trades).where(trades.c.id == trade_id)).first()
        return trade_from_row(row) if row else None

    def add(self, trade: Trade, at: datetime) -> int:
        values = _values(trade) | {"created_at": at, "updated_at": at}
        return int(
            self._c.execute(insert(trades).values(**values).returning(trades.c.id)).scalar_one()
        )

    def save(self, trade: Trade, at: datetime) -> None:
        assert trade.id is not None
        values = _values(trade) | {"updated_at": at}
        self._c.execute(update(trades).where(trades.c.id == trade.id).values(**values))

    def get_for_update(self, trade_id: int) -> Trade | None:
        """A trade, locked until the transaction ends (on PostgreSQL; a SQLite writer holds
        the whole database already)."""
        return self.load_many([trade_id], lock=True).get(trade_id)

    def load_many(self, trade_ids: Iterable[int], lock: bool = False) -> dict[int, Trade]:
        """Load trades by id in one query; `lock`: keep them locked until the transaction
        ends (on PostgreSQL, in id order, so two writers locking several never deadlock on
        the same ones), as a writer that will rewrite them from what it read must."""
        ids = sorted(set(trade_ids))
        if not ids:
            return {}
        codec = Codec(self._c.dialect.name)
        names = ("id", *_COLUMNS)
        condition = f"id {codec.in_list('bigint')}"
        if lock and codec.postgresql:
            condition += " ORDER BY id FOR UPDATE"
        rows = driver.rows(
            self._c, codec.select(trades, names, condition), (codec.list_param(ids),)
        )
        return {row[0]: trade_from_raw(dict(zip(names, row, strict=True))) for row in rows}

    def insert_many(self, new: Sequence[Trade], at: datetime, codec: Codec) -> None:
        """Insert trades whose ids are already reserved (see `orders.next_ids`)."""
        if new:
            names = ("id", *_COLUMNS, "created_at", "updated_at")
            stamp = codec.when(at)
            params = [(t.id, *_params(t, codec), stamp, stamp) for t in new]
            driver.run_many(self._c, codec.insert(trades, names), params)

    def save_many(self, changed: Sequence[Trade], at: datetime, codec: Codec) -> None:
        """Write what `save` writes, for many trades in one statement."""
        if changed:
            names = (*_COLUMNS, "updated_at")
            stamp = codec.when(at)
            params = [(*_params(t, codec), stamp, t.id) for t in changed]
            update_rows(self._c, trades, names, params, codec)


def _params(trade: Trade, codec: Codec) -> tuple[Any, ...]:
    """`_values` as driver-native values in `_COLUMNS` order."""
    money, when = codec.money, codec.when
    return (
        trade.status.value,
        trade.broker,
        trade.account_id,
        trade.instrument.symbol,
        dump_json(instrument_to_json(trade.instrument)),
        trade.direction.value,
        money(trade.quantity),
        money(trade.entry_price),
        money(trade.exit_quantity),
        money(trade.exit_price),
        money(trade.realized_pnl),
        when(trade.opened_at),
        when(trade.closed_at),
        trade.broker_order_id_open,
        trade.broker_order_id_close,
    )
