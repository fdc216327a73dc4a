"""The apply path as it was before it was made fast: one statement per row, no shortcuts.

Kept as the oracle the fast path is compared with (`test_fast_path_matches_reference.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from ordertrail.clock import Clock
from ordertrail.domain.alert import Alert
from ordertrail.domain.events import EventKind, Fill, OrderEvent
from ordertrail.domain.matching import match_alerts
from ordertrail.domain.order import Change, KnownFills, Order, OrderState, evolve
from ordertrail.domain.proposal import ProposalKind, ProposalStatus
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import entry_filled, exits_filled, open_trade
from ordertrail.services.apply import ApplyResult
from ordertrail.storage.history import event_row, fill_row
from ordertrail.storage.orders import state_values
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)


def apply_reports_one_by_one(
    uow: UnitOfWork, reports: Sequence[OrderReport], clock: Clock
) -> ApplyResult:
    """The apply path as it was before batching: one statement per row."""
    with uow:
        result = _Batch(uow, clock.now()).run(reports)
        uow.commit()
    return result


class _Batch:
    """One transaction's worth of reports, with the orders they touch loaded up front."""

    def __init__(self, uow: UnitOfWork, now: datetime) -> None:
        self.uow = uow
        self.now = now
        self.result = ApplyResult()
        self.by_key: dict[tuple[str, str, str], Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.fills: dict[int, list[Fill]] = {}
        self.consequences = _Consequences(uow, now, self.result)

    def run(self, reports: Sequence[OrderReport]) -> ApplyResult:
        for order in self.uow.orders.for_reports(reports):
            self._remember(order)
        wanted = {o.id for o in self.by_key.values()} | {o.id for o in self.by_client_id.values()}
        if any(r.executions for r in reports):
            self.fills = dict(self.uow.history.fills_for(wanted))
        for report in reports:
            self.result.reports += 1
            self.result.account(report.broker, report.account_id).reports += 1
            self._apply_one(report)
        return self.result

    def _remember(self, order: Order) -> None:
        state = order.state
        if state.broker_order_id:
            self.by_key[(state.broker, state.account_id, state.broker_order_id)] = order
        # Our ids are unique; an external order's tag is only a key until its broker id is known
        # (brokers reuse tags, e.g. a strategy name on every order).
        if order.client_order_id and (not order.external or not state.broker_order_id):
            self.by_client_id[order.client_order_id] = order

    def _resolve(self, report: OrderReport) -> Order:
        """Find the order: by client order id, then broker order id; else adopt it as external."""
        mine = self.by_client_id.get(report.client_order_id or "")
        if mine is not None and mine.state.account_id == report.account_id:
            known_id = mine.state.broker_order_id
            if known_id is None or report.broker_order_id in (None, known_id):
                return mine
            log.warning(
                "client order id %s already belongs to broker order %s; %s is another order",
                report.client_order_id,
                known_id,
                report.broker_order_id,
            )
        if report.broker_order_id:
            known = self.by_key.get((report.broker, report.account_id, report.broker_order_id))
            if known is not None:
                return known
        return self._adopt(report)

    def _adopt(self, report: OrderReport) -> Order:
        state = OrderState(broker=report.broker, account_id=report.account_id)
        instrument = report.instrument
        values = state_values(state) | {
            "client_order_id": report.client_order_id,
            "external": True,
            "symbol": instrument.symbol if instrument else None,
            "option_symbol": instrument.option_symbol if instrument else None,
            "broker_side": report.side,
            "order_type": report.order_type,
            "event_seq": 1,
            "created_at": self.now,
            "updated_at": self.now,
        }
        order_id = self.uow.orders.add(values)
        order = Order(
            id=order_id,
            state=state,
            external=True,
            client_order_id=report.client_order_id,
            instrument=instrument,
            broker_side=report.side,
            order_type=report.order_type,
            event_seq=1,
        )
        adopted = OrderEvent(
            kind=EventKind.ADOPTED,
            status_before=None,
            status_after=state.status,
            filled_quantity=state.filled_quantity,
            message=f"Broker order {report.broker_order_id} adopted as external",
            source=report.source,
            broker_ts=report.broker_ts,
            payload=report.raw,
        )
        self.uow.history.append_events([event_row(order_id, 1, adopted, self.now)])
        self.result.orders_created += 1
        self.result.events += 1
        return order

    def _apply_one(self, report: OrderReport) -> None:
        order = self._resolve(report)
        known = KnownFills.of(self.fills.get(order.id, ()))
        change = evolve(order.state, report, known)
        if change.stale:
            self.result.stale += 1
            log.info("stale report for order %s ignored in part: %s", order.id, report.status)
        if not change.changed:
            self.result.unchanged += 1
            return
        order = self._write(order, change, report)
        self.result.applied += 1
        counts = self.result.account(report.broker, report.account_id)
        counts.applied += 1
        counts.fills += len(change.fills)
        self.result.order_ids.add(order.id)
        order = self.consequences.follow(order, change)
        self.uow.orders.save_state(order, at=self.now)
        self._remember(order)

    def _write(self, order: Order, change: Change, report: OrderReport) -> Order:
        seq = order.event_seq
        rows = []
        for event in change.events:
            seq += 1
            rows.append(event_row(order.id, seq, event, self.now))
        self.uow.history.append_events(rows)
        state = change.after
        self.uow.history.add_fills(
            [fill_row(order.id, state.broker, state.account_id, f, self.now) for f in change.fills]
        )
        if change.fills:
            self.fills.setdefault(order.id, []).extend(change.fills)
            order = self._fill_totals(order)
        self.result.events += len(rows)
        self.result.fills += len(change.fills)
        instrument = order.instrument or report.instrument
        return replace(order, state=state, event_seq=seq, instrument=instrument)

    def _fill_totals(self, order: Order) -> Order:
        """The order's fill totals, summed afresh from every fill recorded for it."""
        recorded = self.uow.history.fills_for([order.id]).get(order.id, [])
        quantity = sum((f.quantity for f in recorded), Decimal(0))
        value = sum((f.quantity * f.price for f in recorded), Decimal(0))
        return replace(order, fills_quantity=quantity, fills_value=value)


PROPOSAL_STATUS: dict[OrderStatus, ProposalStatus] = {
    OrderStatus.PENDING: ProposalStatus.SUBMITTED,
    OrderStatus.PLACED: ProposalStatus.WORKING,
    OrderStatus.PARTIAL: ProposalStatus.PARTIAL,
    OrderStatus.FILLED: ProposalStatus.FILLED,
    OrderStatus.CANCELLED: ProposalStatus.CANCELLED,
    OrderStatus.REJECTED: ProposalStatus.REJECTED,
    OrderStatus.EXPIRED: ProposalStatus.EXPIRED,
}


class _Consequences:
    """Follow an order's change to its trade, proposal and alerts, in the same transaction."""

    def __init__(self, uow: UnitOfWork, now: datetime, result: ApplyResult) -> None:
        self.uow = uow
        self.now = now
        self.result = result
        self._alerts: list[Alert] | None = None

    def follow(self, order: Order, change: Change) -> Order:
        """Return the order with its trade link, after updating trade, proposal and alerts."""
        filled_now = change.filled_increase > 0
        priced = change.after.avg_fill_price != change.before.avg_fill_price
        if filled_now or change.status_changed or priced:
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
                    entry_filled(existing, state.filled_quantity, state.avg_fill_price, self.now),
                    self.now,
                )
                self.result.trade_ids.add(order.trade_id)
        elif order.side is ProposalKind.EXIT and order.trade_id is not None:
            existing = self.uow.trades.get(order.trade_id)
            if existing is not None:
                exits = {
                    order_id: (filled, average)
                    for order_id, _, filled, average in self.uow.orders.exit_fills([order.trade_id])
                }
                exits[order.id] = (state.filled_quantity, state.avg_fill_price)
                closed = exits_filled(existing, exits.values(), state.broker_order_id, self.now)
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
