"""What one apply batch writes, gathered in memory and written with one statement per kind.

Rows the batch creates (adopted orders, opened trades) get provisional negative ids while the
batch runs; `flush` reserves their real ids in one query per table and rewrites every
reference before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ordertrail.domain.copying import changed
from ordertrail.domain.order import Order
from ordertrail.domain.proposal import ProposalStatus
from ordertrail.domain.trade import Trade
from ordertrail.storage.order_rows import update_values
from ordertrail.storage.trades import as_stored
from ordertrail.storage.types import Codec
from ordertrail.storage.uow import UnitOfWork


class PendingWrites:
    """The batch's events, fills and new states, written together by `flush`."""

    def __init__(self, uow: UnitOfWork, now: datetime, codec: Codec) -> None:
        self.uow = uow
        self.now = now
        self.codec = codec
        self.recorded_at = codec.when(now)
        self._provisional = 0
        self.new_orders: dict[int, dict[str, Any]] = {}
        self.events: list[tuple[Any, ...]] = []  # driver-native rows; order id first
        self.fills: list[tuple[Any, ...]] = []
        self.orders: dict[int, tuple[Order | None, Order]] = {}  # as loaded, as it is now
        self.new_trades: dict[int, Trade] = {}
        self.trades: dict[int, Trade] = {}
        self.proposals: dict[int, ProposalStatus] = {}
        self.alerts: dict[int, tuple[Mapping[str, Any], int]] = {}

    def provisional_id(self) -> int:
        """A negative id standing for a row this batch will insert."""
        self._provisional -= 1
        return self._provisional

    def add_order(self, values: dict[str, Any]) -> int:
        """Queue an order row to insert; return its provisional id."""
        order_id = self.provisional_id()
        self.new_orders[order_id] = values
        return order_id

    def save_order(self, order: Order, loaded: Order | None) -> None:
        """Queue an order's new state (the last one queued is written); `loaded` is the order
        as read from the database (None for one this batch inserts)."""
        first = self.orders.get(order.id)
        self.orders[order.id] = (first[0] if first else loaded, order)

    def add_trade(self, trade: Trade) -> Trade:
        """Queue a new trade; return it with its provisional id, as a read would show it."""
        trade = as_stored(changed(trade, id=self.provisional_id()))
        assert trade.id is not None
        self.new_trades[trade.id] = trade
        return trade

    def save_trade(self, trade: Trade) -> Trade:
        """Queue a trade's new state; return it as a read would show it."""
        trade = as_stored(trade)
        assert trade.id is not None
        if trade.id < 0:
            self.new_trades[trade.id] = trade
        else:
            self.trades[trade.id] = trade
        return trade

    def set_proposal(self, proposal_id: int, status: ProposalStatus) -> None:
        self.proposals[proposal_id] = status

    def mark_alert(self, alert_id: int, update: Mapping[str, Any], order_id: int) -> None:
        self.alerts[alert_id] = (update, order_id)

    def fold(self, source_id: int, order_id: int, seq_offset: int) -> None:
        """What is queued for order `source_id` goes to `order_id` instead (its events numbered
        after `seq_offset`); `source_id` itself is neither inserted nor updated."""
        self.new_orders.pop(source_id, None)
        self.orders.pop(source_id, None)
        self.events = [
            (order_id, row[1] + seq_offset, *row[2:]) if row[0] == source_id else row
            for row in self.events
        ]
        self.fills = [(order_id, *row[1:]) if row[0] == source_id else row for row in self.fills]
        for alert_id, (update, marked_by) in list(self.alerts.items()):
            if marked_by == source_id:  # its update names the broker order id, as ours will
                self.alerts[alert_id] = (update, order_id)

    def flush(self) -> dict[int, int]:
        """Write everything (parents before the rows that point at them); return the real id
        of every provisional one."""
        ids = self._reserve()
        uow, codec, now = self.uow, self.codec, self.now
        changes = [(before, _real(after, ids)) for before, after in self.orders.values()]
        final = {after.id: after for before, after in changes if before is None}
        uow.orders.insert_many(
            [
                {"id": ids[tid]} | values | _final_values(final.get(ids[tid]), now)
                for tid, values in self.new_orders.items()
            ],
            codec,
        )
        uow.trades.insert_many(
            [changed(t, id=ids[t.id or 0]) for t in self.new_trades.values()], now, codec
        )
        uow.history.insert_event_params(_real_rows(self.events, ids), codec)
        uow.history.insert_fill_params(_real_rows(self.fills, ids), codec)
        uow.orders.save_changes(
            [(before, after) for before, after in changes if before is not None], now, codec
        )
        uow.trades.save_many(list(self.trades.values()), now, codec)
        uow.proposals.set_statuses(self.proposals, now, codec)
        uow.alerts.mark_many(
            {aid: _real_update(update, oid, ids) for aid, (update, oid) in self.alerts.items()},
            now,
            codec,
        )
        return ids

    def _reserve(self) -> dict[int, int]:
        ids: dict[int, int] = {}
        orders = self.uow.orders.next_ids(len(self.new_orders))
        ids.update(zip(self.new_orders, orders, strict=True))
        trades = self.uow.trades.next_ids(len(self.new_trades))
        ids.update(zip(self.new_trades, trades, strict=True))
        return ids


def _final_values(order: Order | None, now: datetime) -> dict[str, Any]:
    """What saving a new order's state would write over its inserted values."""
    return update_values(order, now) if order is not None else {}


def _real_rows(rows: list[tuple[Any, ...]], ids: Mapping[int, int]) -> list[tuple[Any, ...]]:
    """Rows whose first value (the order id) is real."""
    if not ids:
        return rows
    return [row if row[0] >= 0 else (ids[row[0]], *row[1:]) for row in rows]


def _real(order: Order, ids: Mapping[int, int]) -> Order:
    if order.id >= 0 and (order.trade_id is None or order.trade_id >= 0):
        return order
    trade_id = ids.get(order.trade_id, order.trade_id) if order.trade_id is not None else None
    return changed(order, id=ids.get(order.id, order.id), trade_id=trade_id)


def _real_update(
    update: Mapping[str, Any], order_id: int, ids: Mapping[int, int]
) -> Mapping[str, Any]:
    """An alert's order update naming the order by our id uses the real one."""
    if order_id < 0 and update.get("order_id") == str(order_id):
        return {**update, "order_id": str(ids[order_id])}
    return update
