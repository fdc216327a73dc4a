"""The one apply path: broker reports in, events, fills, order, trade, proposal and alerts out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ordertrail.clock import Clock
from ordertrail.domain.events import EventKind, Fill, OrderEvent
from ordertrail.domain.order import Change, Order, OrderState, evolve
from ordertrail.domain.report import OrderReport
from ordertrail.services.consequences import Consequences
from ordertrail.storage.history import event_row, fill_row
from ordertrail.storage.orders import state_values
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class AccountCounts:
    """One account's share of a batch: what the status endpoint's stats add up."""

    reports: int = 0
    applied: int = 0
    fills: int = 0
    alerts_updated: int = 0

    def add(self, other: AccountCounts) -> None:
        self.reports += other.reports
        self.applied += other.applied
        self.fills += other.fills
        self.alerts_updated += other.alerts_updated


@dataclass
class ApplyResult:
    """What one batch of reports changed."""

    reports: int = 0
    applied: int = 0  # reports that changed something
    unchanged: int = 0  # duplicates and reports that said nothing new
    stale: int = 0  # reports whose status or quantity was older than what we knew
    events: int = 0
    fills: int = 0
    orders_created: int = 0
    alerts_updated: int = 0
    order_ids: set[int] = field(default_factory=set)
    trade_ids: set[int] = field(default_factory=set)
    alert_ids: set[int] = field(default_factory=set)
    accounts: dict[tuple[str, str], AccountCounts] = field(default_factory=dict)

    def account(self, broker: str, account_id: str) -> AccountCounts:
        """The counts of one account within this result."""
        key = (broker, account_id)
        if key not in self.accounts:
            self.accounts[key] = AccountCounts()
        return self.accounts[key]

    def merge(self, other: ApplyResult) -> None:
        """Add another batch's counts to this one."""
        for name in ("reports", "applied", "unchanged", "stale", "events", "fills"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.orders_created += other.orders_created
        self.alerts_updated += other.alerts_updated
        self.order_ids |= other.order_ids
        self.trade_ids |= other.trade_ids
        self.alert_ids |= other.alert_ids
        for (broker, account_id), counts in other.accounts.items():
            self.account(broker, account_id).add(counts)


def apply_reports(uow: UnitOfWork, reports: Sequence[OrderReport], clock: Clock) -> ApplyResult:
    """Apply broker reports in order, in one transaction; the same report twice changes nothing."""
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
        self.consequences = Consequences(uow, now, self.result)

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
        known = self.fills.get(order.id, ())
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
        self.result.events += len(rows)
        self.result.fills += len(change.fills)
        instrument = order.instrument or report.instrument
        return replace(order, state=state, event_seq=seq, instrument=instrument)
