"""What an order change means elsewhere: trade opened or closed, proposal and alerts updated."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ordertrail.domain.alert import Alert
from ordertrail.domain.matching import match_alerts
from ordertrail.domain.order import Change, Order
from ordertrail.domain.proposal import ProposalKind, ProposalStatus
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import entry_filled, exit_filled, open_trade
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
    """Follow an order's change to its trade, proposal and alerts, in the same transaction."""

    def __init__(self, uow: UnitOfWork, now: datetime, result: ApplyResult) -> None:
        self.uow = uow
        self.now = now
        self.result = result
        self._alerts: list[Alert] | None = None

    def follow(self, order: Order, change: Change) -> Order:
        """Return the order with its trade link, after updating trade, proposal and alerts."""
        filled_now = change.filled_increase > 0
        if filled_now or change.status_changed:
            order = self._trade(order, change)
        if change.status_changed and order.proposal_id is not None:
            self.uow.proposals.set_status(
                order.proposal_id, PROPOSAL_STATUS[order.state.status], self.now
            )
        if order.state.filled_quantity > 0 and (filled_now or change.status_changed):
            order = self._alerts_for(order)
        return order

    def _trade(self, order: Order, change: Change) -> Order:
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
                trade_id = self.uow.trades.add(trade, self.now)
                self.result.trade_ids.add(trade_id)
                return replace(order, trade_id=trade_id)
            existing = self.uow.trades.get(order.trade_id)
            if existing is not None:
                self.uow.trades.save(
                    entry_filled(existing, state.filled_quantity, state.avg_fill_price), self.now
                )
                self.result.trade_ids.add(order.trade_id)
        elif order.side is ProposalKind.EXIT and order.trade_id is not None:
            existing = self.uow.trades.get(order.trade_id)
            if existing is not None:
                closed = exit_filled(
                    existing,
                    state.filled_quantity,
                    state.avg_fill_price,
                    state.broker_order_id,
                    exit_done=state.status is OrderStatus.FILLED,
                    at=self.now,
                )
                self.uow.trades.save(closed, self.now)
                self.result.trade_ids.add(order.trade_id)
        return order

    def _alerts_for(self, order: Order) -> Order:
        """Mark every alert this fill matches, across alerters, open with the order's update."""
        if order.instrument is None:
            return order
        if self._alerts is None:
            self._alerts = self.uow.alerts.all()
        match = match_alerts(order.instrument, self._alerts)
        if match.ambiguous:
            log.warning(
                "order %s matches several alerts of %s; not guessing",
                order.id,
                ", ".join(match.ambiguous_sources),
            )
        update = _order_update(order, self.now)
        for alert in match.matched:
            assert alert.id is not None
            self.uow.alerts.mark_order_update(alert.id, update, self.now)
            self.result.alerts_updated += 1
            self.result.account(order.state.broker, order.state.account_id).alerts_updated += 1
            self.result.alert_ids.add(alert.id)
        summary: dict[str, Any] = {
            "matched": [a.id for a in match.matched],
            "ambiguous": list(match.ambiguous_sources),
            "candidates": [a.id for a in match.candidates],
        }
        return replace(order, alert_match=summary)


def _order_update(order: Order, now: datetime) -> dict[str, Any]:
    """The alerters' `last_order_update` entry."""
    state = order.state
    filled: Decimal = state.filled_quantity
    return {
        "order_id": state.broker_order_id or order.client_order_id or str(order.id),
        "status": state.status.value,
        "filled_qty": int(filled) if filled == filled.to_integral() else float(filled),
        "updated_at": now.isoformat(),
    }
