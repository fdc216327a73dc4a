"""The one apply path: broker reports in, events, fills, order, trade, proposal and alerts out.

A batch costs a constant number of statements, whatever its size: one query loads every order
the reports name, reports that only repeat what is known are skipped after a cheap check, and
the changes are written at the end with one statement per kind (see `PendingWrites`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ordertrail.clock import Clock
from ordertrail.domain.copying import changed
from ordertrail.domain.events import EventKind, OrderEvent
from ordertrail.domain.order import Change, Order, OrderState, evolve, repeats
from ordertrail.domain.report import OrderReport
from ordertrail.services.consequences import Consequences
from ordertrail.services.pending import PendingWrites
from ordertrail.storage.history import event_params, fill_params
from ordertrail.storage.orders import order_from_raw, state_from_raw, state_values
from ordertrail.storage.types import dump_json
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
    return apply_groups(uow, [reports], clock)[0]


def apply_groups(
    uow: UnitOfWork, groups: Sequence[Sequence[OrderReport]], clock: Clock
) -> list[ApplyResult]:
    """Apply several callers' reports, group after group, in one transaction (group commit);
    return each group's own result."""
    with uow:
        results = _Batch(uow, clock.now()).run(groups)
        uow.commit()
    return results


class _Batch:
    """One transaction's worth of reports, with the orders they touch loaded up front."""

    def __init__(self, uow: UnitOfWork, now: datetime) -> None:
        self.uow = uow
        self.now = now
        self.codec = uow.orders.codec
        self.pending = PendingWrites(uow, now, self.codec)
        self.rows: dict[int, Any] = {}  # raw rows, decoded on demand
        self.states: dict[int, OrderState] = {}
        self.orders: dict[int, Order] = {}
        self.loaded: dict[int, Order] = {}  # orders as read, to write only what changed
        self.by_key: dict[tuple[str, str, str], int] = {}
        self.by_client_id: dict[str, int] = {}
        self.fills: dict[int, list[Any]] = {}
        self._payload_of: OrderReport | None = None  # the report whose payload is encoded
        self._payload: str | None = None

    def run(self, groups: Sequence[Sequence[OrderReport]]) -> list[ApplyResult]:
        everything = [report for group in groups for report in group]
        for row in self.uow.orders.load_for_reports(everything, self.codec):
            self.rows[row.id] = row
            self._remember(row.id, row.broker, row.account_id, row.broker_order_id)
        trade_ids = {row.trade_id for row in self.rows.values() if row.trade_id is not None}
        self.consequences = Consequences(self.uow, self.now, self.pending, trade_ids)
        if any(report.executions for report in everything):
            self.fills = dict(self.uow.history.fills_for(self.rows))
        results = []
        for group in groups:
            result = ApplyResult()
            for report in group:
                result.reports += 1
                result.account(report.broker, report.account_id).reports += 1
                self._apply_one(report, result)
            results.append(result)
        ids = self.pending.flush()
        if ids:
            for result in results:
                result.order_ids = {ids.get(i, i) for i in result.order_ids}
                result.trade_ids = {ids.get(i, i) for i in result.trade_ids}
        return results

    def _remember(self, order_id: int, broker: str, account_id: str, broker_id: str | None) -> None:
        if broker_id:
            self.by_key[(broker, account_id, broker_id)] = order_id
        # Our ids are unique; an external order's tag is only a key until its broker id is known
        # (brokers reuse tags, e.g. a strategy name on every order).
        order = self.orders.get(order_id)
        if order is not None:
            client_id, external = order.client_order_id, order.external
        else:
            row = self.rows[order_id]
            client_id, external = row.client_order_id, bool(row.external)
        if client_id and (not external or not broker_id):
            self.by_client_id[client_id] = order_id

    def _state(self, order_id: int) -> OrderState:
        order = self.orders.get(order_id)
        if order is not None:
            return order.state
        state = self.states.get(order_id)
        if state is None:
            state = self.states[order_id] = state_from_raw(self.rows[order_id])
        return state

    def _order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            row = self.rows[order_id]
            order = self.orders[order_id] = order_from_raw(row, self._state(order_id))
            what = order.instrument
            stored = what is not None and (row.symbol, row.option_symbol) == (
                what.symbol,
                what.option_symbol,
            )
            # What the row holds; an instrument out of step with its columns is rewritten.
            self.loaded[order_id] = (
                order if stored or what is None else changed(order, instrument=None)
            )
        return order

    def _resolve(self, report: OrderReport, result: ApplyResult) -> int:
        """Find the order: by client order id, then broker order id; else adopt it as external."""
        mine = self.by_client_id.get(report.client_order_id or "")
        if mine is not None:
            state = self._state(mine)
            if state.account_id == report.account_id:
                known_id = state.broker_order_id
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
        return self._adopt(report, result)

    def _adopt(self, report: OrderReport, result: ApplyResult) -> int:
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
        order_id = self.pending.add_order(values)
        self.orders[order_id] = Order(
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
        self._event(order_id, 1, adopted, report)
        result.orders_created += 1
        result.events += 1
        return order_id

    def _apply_one(self, report: OrderReport, result: ApplyResult) -> None:
        order_id = self._resolve(report, result)
        known = self.fills.get(order_id, ())
        if repeats(self._state(order_id), report, known):
            result.unchanged += 1
            return
        order = self._order(order_id)
        change = evolve(order.state, report, known)
        if change.stale:
            result.stale += 1
            log.info("stale report for order %s ignored in part: %s", order.id, report.status)
        if not change.changed:
            result.unchanged += 1
            return
        order = self._write(order, change, report, result)
        result.applied += 1
        counts = result.account(report.broker, report.account_id)
        counts.applied += 1
        counts.fills += len(change.fills)
        result.order_ids.add(order.id)
        order = self.consequences.follow(order, change, result)
        self.orders[order.id] = order
        self.pending.save_order(order, self.loaded.get(order.id))
        self._remember(
            order.id, order.state.broker, order.state.account_id, order.state.broker_order_id
        )

    def _event(self, order_id: int, seq: int, event: OrderEvent, report: OrderReport) -> None:
        if self._payload_of is not report:
            self._payload_of, self._payload = report, dump_json(report.raw)
        payload = self._payload if event.payload is report.raw else dump_json(event.payload)
        self.pending.events.append(
            event_params(order_id, seq, event, payload, self.pending.recorded_at, self.codec)
        )

    def _write(
        self, order: Order, change: Change, report: OrderReport, result: ApplyResult
    ) -> Order:
        seq = order.event_seq
        for event in change.events:
            seq += 1
            self._event(order.id, seq, event, report)
        state = change.after
        recorded_at = self.pending.recorded_at
        for fill in change.fills:
            self.pending.fills.append(
                fill_params(order.id, state.broker, state.account_id, fill, recorded_at, self.codec)
            )
        if change.fills:
            self.fills.setdefault(order.id, []).extend(change.fills)
        result.events += len(change.events)
        result.fills += len(change.fills)
        instrument = order.instrument or report.instrument
        return changed(order, state=state, event_seq=seq, instrument=instrument)
