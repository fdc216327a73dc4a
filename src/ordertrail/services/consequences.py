"""What an order change means elsewhere: trade opened or closed, proposal and alerts updated."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ordertrail.domain.alert import Alert
from ordertrail.domain.copying import changed
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.matching import AlertMatch, match_alerts
from ordertrail.domain.order import Change, Order
from ordertrail.domain.proposal import ProposalKind, ProposalStatus
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import Trade, entry_filled, exits_filled, open_trade
from ordertrail.services.pending import PendingWrites
from ordertrail.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from ordertrail.services.apply import ApplyResult

log = logging.getLogger(__name__)

PROPOSAL_STATUS: dict[OrderStatus, ProposalStatus] = {
    OrderStatus.PENDING: ProposalStatus.SUBMITTED,
    OrderStatus.PLACED: ProposalStatus.WORKING,
    OrderStatus.PARTIAL: ProposalStatus.PARTIAL,
    OrderStatus.FILLED: ProposalStatus.FILLED,
    OrderStatus.CANCELLED: ProposalStatus.CANCELLED,
    OrderStatus.REJECTED: ProposalStatus.REJECTED,
    OrderStatus.EXPIRED: ProposalStatus.EXPIRED,
}


class Consequences:
    """Follow an order's change to its trade, proposal and alerts, in the same transaction.

    Trades and alerts are read once per batch, the first time one is needed: the trades of
    every loaded order in one query, the alerts on every symbol the batch's reports name in
    another (a symbol found only on a stored order costs one more). Every write goes to the
    batch's pending writes.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        now: datetime,
        pending: PendingWrites,
        trade_ids: Iterable[int],
        symbols: Iterable[str] = (),
    ) -> None:
        self.uow = uow
        self.now = now
        self._stamp = now.isoformat()  # the alerters' `updated_at` of every update it makes
        self.pending = pending
        self._trade_ids = set(trade_ids)
        self._trades: dict[int, Trade] | None = None
        self._written: dict[int, Trade] = {}  # trades this batch wrote, as a read would show
        self._symbols = {symbol.upper() for symbol in symbols}
        self._alerts: dict[str, list[Alert]] = {}  # by symbol, for every symbol read
        self._matches: dict[int, tuple[Instrument, AlertMatch]] = {}
        self._exits: dict[int, dict[int, tuple[Decimal, Decimal | None]]] | None = None

    def follow(self, order: Order, change: Change, result: ApplyResult) -> Order:
        """Return the order with its trade link, after updating trade, proposal and alerts."""
        filled_now = change.filled_increase > 0
        priced = change.after.avg_fill_price != change.before.avg_fill_price
        if filled_now or change.status_changed or priced:
            order = self._trade(order, result)
        if change.status_changed and order.proposal_id is not None:
            self.pending.set_proposal(order.proposal_id, PROPOSAL_STATUS[order.state.status])
        if order.state.filled_quantity > 0 and (filled_now or change.status_changed):
            order = self._alerts_for(order, result)
        return order

    def _trade(self, order: Order, result: ApplyResult) -> Order:
        state = order.state
        if state.filled_quantity <= 0 or order.instrument is None:
            return order
        if order.side is ProposalKind.ENTRY:
            if order.trade_id is None:
                trade = open_trade(
                    broker=state.broker,
                    account_id=state.account_id,
                    instrument=order.instrument,
                    side=order.broker_side,
                    filled=state.filled_quantity,
                    avg_price=state.avg_fill_price,
                    broker_order_id=state.broker_order_id,
                    at=self.now,
                )
                trade_id = self._keep(self.pending.add_trade(trade))
                result.trade_ids.add(trade_id)
                return changed(order, trade_id=trade_id)
            existing = self._get(order.trade_id)
            if existing is not None:
                filled = entry_filled(
                    existing, state.filled_quantity, state.avg_fill_price, self.now
                )
                self._keep(self.pending.save_trade(filled))
                result.trade_ids.add(order.trade_id)
        elif order.side is ProposalKind.EXIT and order.trade_id is not None:
            existing = self._get(order.trade_id)
            if existing is not None:
                exits = self._exits_of(order.trade_id)
                exits[order.id] = (state.filled_quantity, state.avg_fill_price)
                closed = exits_filled(existing, exits.values(), state.broker_order_id, self.now)
                self._keep(self.pending.save_trade(closed))
                result.trade_ids.add(order.trade_id)
        return order

    def _exits_of(self, trade_id: int) -> dict[int, tuple[Decimal, Decimal | None]]:
        """Each EXIT order of a trade: its filled quantity and average price, as this batch
        left them. Read once per batch for the trades of every loaded order (one query; a
        trade found only later costs one more); every EXIT change of the batch is followed
        here, so what it changed since is written over what was read."""
        if self._exits is None:
            self._exits = self._read_exits(self._trade_ids | {trade_id})
        elif trade_id not in self._exits:
            self._exits.update(self._read_exits({trade_id}))
        return self._exits[trade_id]

    def _read_exits(
        self, trade_ids: set[int]
    ) -> dict[int, dict[int, tuple[Decimal, Decimal | None]]]:
        found: dict[int, dict[int, tuple[Decimal, Decimal | None]]] = {t: {} for t in trade_ids}
        stored = (t for t in trade_ids if t > 0)  # a trade opened in this batch has no exits yet
        for order_id, trade_id, filled, average in self.uow.orders.exit_fills(stored):
            found[trade_id][order_id] = (filled, average)
        return found

    def _get(self, trade_id: int) -> Trade | None:
        """The trade as this batch left it; the batch's trades are read on the first call."""
        # Locked as read: another process's batch changing the same trade (another EXIT
        # order of it, say) waits for this one and then reads what it wrote.
        if self._trades is None:
            unread = self._trade_ids - self._written.keys()
            self._trades = self.uow.trades.load_many(unread, lock=True)
            self._trades.update(self._written)
        if trade_id not in self._trades and trade_id not in self._trade_ids:
            self._trades.update(self.uow.trades.load_many([trade_id], lock=True))
            self._trade_ids.add(trade_id)
        return self._trades.get(trade_id)

    def _keep(self, trade: Trade) -> int:
        assert trade.id is not None
        self._written[trade.id] = trade
        if self._trades is not None:
            self._trades[trade.id] = trade
        return trade.id

    def _alerts_for(self, order: Order, result: ApplyResult) -> Order:
        """Mark every alert this fill matches, across alerters, open with the order's update."""
        if order.instrument is None:
            return order
        match = self._match(order.instrument)
        if match.ambiguous:
            log.warning(
                "order %s matches several alerts of %s; not guessing",
                order.id,
                ", ".join(match.ambiguous_sources),
            )
        update = _order_update(order, self._stamp)
        for alert in match.matched:
            assert alert.id is not None
            self.pending.mark_alert(alert.id, update, order.id)
            result.alerts_updated += 1
            result.account(order.state.broker, order.state.account_id).alerts_updated += 1
            result.alert_ids.add(alert.id)
        summary: dict[str, Any] = {
            "matched": [a.id for a in match.matched],
            "ambiguous": list(match.ambiguous_sources),
            "candidates": [a.id for a in match.candidates],
        }
        return changed(order, alert_match=summary)

    def _match(self, instrument: Instrument) -> AlertMatch:
        """Match an instrument once per batch (alerts do not change while it runs)."""
        known = self._matches.get(id(instrument))
        if known is None or known[0] is not instrument:
            known = (instrument, match_alerts(instrument, self._alerts_on(instrument.symbol)))
            self._matches[id(instrument)] = known
        return known[1]

    def _alerts_on(self, symbol: str) -> list[Alert]:
        """The alerts on one symbol, in the order `alerts.all()` gives (read once per batch)."""
        wanted = symbol.upper()
        if wanted not in self._alerts:
            unread = (self._symbols | {wanted}) - self._alerts.keys()
            for name in unread:
                self._alerts[name] = []
            for alert in self.uow.alerts.for_matching(unread):
                self._alerts.setdefault(alert.symbol.upper(), []).append(alert)
        return self._alerts[wanted]


def _order_update(order: Order, stamp: str) -> dict[str, Any]:
    """The alerters' `last_order_update` entry."""
    state = order.state
    filled: Decimal = state.filled_quantity
    return {
        "order_id": state.broker_order_id or order.client_order_id or str(order.id),
        "status": state.status.value,
        "filled_qty": int(filled) if filled == filled.to_integral() else float(filled),
        "updated_at": stamp,
    }
