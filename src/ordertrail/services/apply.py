"""The one apply path: broker reports in, events, fills, order, trade, proposal and alerts out.

A batch costs a constant number of statements, whatever its size: one query loads every order
the reports name, reports that only repeat what is known are skipped after a cheap check, and
the changes are written at the end with one statement per kind (see `PendingWrites`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ordertrail.clock import Clock
from ordertrail.domain.claim import claim, claimable
from ordertrail.domain.copying import changed
from ordertrail.domain.events import EventKind, OrderEvent
from ordertrail.domain.order import (
    NO_FILLS,
    Change,
    KnownFills,
    KnownState,
    Order,
    OrderState,
    evolve,
    repeats,
)
from ordertrail.domain.report import OrderReport
from ordertrail.services.consequences import Consequences
from ordertrail.services.pending import PendingWrites
from ordertrail.storage.history import event_params, fill_params
from ordertrail.storage.order_rows import (
    COLUMNS,
    LEAN,
    fill_totals,
    identity,
    lean_of,
    order_from_raw,
    state_from_raw,
    state_values,
    stored_state,
    symbols_of,
    trade_of,
)
from ordertrail.storage.types import dump_json
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
SMALL = 16  # batches this small read whole rows at once: one query, not two


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
    unnamed: int = 0  # reports naming no order (no broker or client order id): left out
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
        """Add another batch's counts and ids to this one."""
        self.add_counts(other)
        self.order_ids |= other.order_ids
        self.trade_ids |= other.trade_ids
        self.alert_ids |= other.alert_ids

    def add_counts(self, other: ApplyResult) -> None:
        """Add another batch's counts to this one, not its ids (running totals, which would
        otherwise hold every id ever touched)."""
        self.reports += other.reports
        self.applied += other.applied
        self.unchanged += other.unchanged
        self.stale += other.stale
        self.unnamed += other.unnamed
        self.events += other.events
        self.fills += other.fills
        self.orders_created += other.orders_created
        self.alerts_updated += other.alerts_updated
        for (broker, account_id), counts in other.accounts.items():
            self.account(broker, account_id).add(counts)

    @classmethod
    def combined(cls, results: Sequence[ApplyResult]) -> ApplyResult:
        """One result for several (the only one itself, not a copy: read it, do not change it)."""
        if len(results) == 1:
            return results[0]
        merged = cls()
        for result in results:
            merged.merge(result)
        return merged


def apply_reports(uow: UnitOfWork, reports: Sequence[OrderReport], clock: Clock) -> ApplyResult:
    """Apply broker reports in order, in one transaction; the same report twice changes nothing."""
    return apply_groups(uow, [reports], clock)[0]


BeforeCommit = Callable[[UnitOfWork, list["ApplyResult"]], None]


def apply_groups(
    uow: UnitOfWork,
    groups: Sequence[Sequence[OrderReport]],
    clock: Clock,
    before_commit: BeforeCommit | None = None,
) -> list[ApplyResult]:
    """Apply several callers' reports, group after group, in one transaction (group commit);
    return each group's own result. `before_commit` runs inside the transaction once every
    write is made (it reads them; it must not write)."""
    with uow:
        results = _Batch(uow, clock.now()).run(groups)
        if before_commit is not None:
            before_commit(uow, results)
        uow.commit()
    return results


class _Batch:
    """One transaction's worth of reports, with the orders they touch loaded up front."""

    def __init__(self, uow: UnitOfWork, now: datetime) -> None:
        self.uow = uow
        self.now = now
        self.codec = uow.orders.codec
        self.pending = PendingWrites(uow, now, self.codec)
        self.lean: dict[int, Any] = {}  # what was read first of every order named (LEAN rows)
        self.account_of: dict[int, str] = {}
        self.rows: dict[int, Any] = {}  # full rows of the orders some report changes
        self.states: dict[int, KnownState] = {}
        self.orders: dict[int, Order] = {}
        self.loaded: dict[int, Order] = {}  # orders as read, to write only what changed
        self.by_key: dict[tuple[str, str, str], int] = {}
        self.by_client_id: dict[str, int] = {}
        self.fills: dict[int, KnownFills] = {}
        self.repeated: dict[int, int] = {}  # report position -> the unchanged order it repeats
        self.moved = False  # whether an order changed yet (which may move the keys)
        self.claims = 0  # adopted orders our orders claimed (see `_claim`)
        self._payload_of: OrderReport | None = None  # the report whose payload is encoded
        self._payload: str | None = None

    def run(self, groups: Sequence[Sequence[OrderReport]]) -> list[ApplyResult]:
        everything = [report for group in groups for report in group]
        small = len(everything) <= SMALL  # a stream message: read everything at once
        columns = COLUMNS if small else LEAN
        for row in self.uow.orders.load_for_reports(everything, self.codec, columns):
            lean = lean_of(row) if small else row
            order_id, broker, account_id, broker_id, client_id, external = identity(lean)
            self.lean[order_id] = lean
            if small:
                self.rows[order_id] = row
            self.account_of[order_id] = account_id
            self._remember(order_id, broker, account_id, broker_id, client_id, external)
        trade_ids = {t for t in map(trade_of, self.lean.values()) if t is not None}
        symbols = {r.instrument.symbol for r in everything if r.instrument is not None}
        self.consequences = Consequences(self.uow, self.now, self.pending, trade_ids, symbols)
        executions = {
            (r.broker, r.account_id, e.execution_id) for r in everything for e in r.executions
        }
        if executions:
            self._known_fills(executions)
        if not small:
            self._fetch(self._changing(everything))
        results = []
        position = 0
        for group in groups:
            result = ApplyResult()
            result.reports = len(group)
            for key, count in Counter((r.broker, r.account_id) for r in group).items():
                result.account(*key).reports += count
            for report in group:
                if not self.moved and position in self.repeated:
                    result.unchanged += 1  # nothing moved: found and judged before the loop
                else:
                    self._apply_one(report, result, position)
                position += 1
            results.append(result)
        ids = self.pending.flush()
        if ids:
            for result in results:
                result.order_ids = {ids.get(i, i) for i in result.order_ids}
                result.trade_ids = {ids.get(i, i) for i in result.trade_ids}
        return results

    def _known_fills(self, executions: set[tuple[str, str, str]]) -> None:
        """What evolve weighs the batch's executions against: each order's fill totals (on
        its row) and which of these executions it has recorded (one query)."""
        recorded = self.uow.history.recorded_executions(self.lean, executions)
        for order_id, lean in self.lean.items():
            quantity, value = fill_totals(lean)
            ids = frozenset(recorded.get(order_id, ()))
            self.fills[order_id] = KnownFills(quantity, value, ids)

    def _changing(self, reports: Sequence[OrderReport]) -> set[int]:
        """The orders some report changes (those whose full rows are read); note the reports
        that only repeat an order as it was read."""
        changing: set[int] = set()
        for position, report in enumerate(reports):
            order_id = self._find(report, quiet=True)
            if order_id is None or order_id in changing:
                continue
            if repeats(self._state(order_id), report, self.fills.get(order_id, NO_FILLS)):
                self.repeated[position] = order_id
            else:
                changing.add(order_id)
        return changing

    def _fetch(self, order_ids: Iterable[int]) -> None:
        """Read the full rows of orders (one query); their states are decoded from those."""
        for row in self.uow.orders.load_rows(order_ids, self.codec):
            order_id = row[0]
            self.rows[order_id] = row
            self.states.pop(order_id, None)

    def _remember(
        self,
        order_id: int,
        broker: str,
        account_id: str,
        broker_id: str | None,
        client_id: str | None,
        external: bool,
    ) -> None:
        if broker_id:
            self.by_key[(broker, account_id, broker_id)] = order_id
        # Our ids are unique; an external order's tag is only a key until its broker id is known
        # (brokers reuse tags, e.g. a strategy name on every order).
        if client_id and (not external or not broker_id):
            self.by_client_id[client_id] = order_id

    def _state(self, order_id: int) -> KnownState:
        """What we know of an order now (a light view while only its LEAN row was read)."""
        order = self.orders.get(order_id)
        if order is not None:
            return order.state
        state = self.states.get(order_id)
        if state is None:
            row = self.rows.get(order_id)
            state = state_from_raw(row) if row is not None else stored_state(self.lean[order_id])
            self.states[order_id] = state
        return state

    def _order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            if order_id not in self.rows:
                self._fetch([order_id])  # not foreseen by `_changing`: read it now
            row = self.rows[order_id]
            state = self._state(order_id)
            assert isinstance(state, OrderState)
            order = self.orders[order_id] = order_from_raw(row, state)
            what = order.instrument
            stored = what is not None and symbols_of(row) == (what.symbol, what.option_symbol)
            # What the row holds; an instrument out of step with its columns is rewritten.
            self.loaded[order_id] = (
                order if stored or what is None else changed(order, instrument=None)
            )
        return order

    def _find(self, report: OrderReport, quiet: bool = False) -> int | None:
        """Find the order a report names: by client order id, then by broker order id."""
        mine = self.by_client_id.get(report.client_order_id or "")
        if mine is not None and self.account_of[mine] == report.account_id:
            known_id = self._state(mine).broker_order_id
            if known_id is None or report.broker_order_id in (None, known_id):
                return mine
            if not quiet:
                log.warning(
                    "client order id %s already belongs to broker order %s; %s is another order",
                    report.client_order_id,
                    known_id,
                    report.broker_order_id,
                )
        if report.broker_order_id:
            return self.by_key.get((report.broker, report.account_id, report.broker_order_id))
        return None

    def _resolve(self, report: OrderReport, result: ApplyResult) -> int:
        """Find the order a report names, or adopt it as external."""
        found = self._find(report)
        if found is None:
            return self._adopt(report, result)
        holder = self._holder(report, found)
        if holder is None:
            return found
        if claimable(self._order(holder)):
            self._claim(found, holder, report, result)
            return found
        log.error(
            "client order id %s names order %s but broker order %s is order %s; applied to %s",
            report.client_order_id,
            found,
            report.broker_order_id,
            holder,
            holder,
        )
        return holder

    def _holder(self, report: OrderReport, found: int) -> int | None:
        """Another order that already holds the broker order id a report gives the order found
        by its client order id (one adopted before our placement answer was found)."""
        if not (report.client_order_id and report.broker_order_id):
            return None
        holder = self.by_key.get((report.broker, report.account_id, report.broker_order_id))
        if holder is None or holder == found or self._state(found).broker_order_id is not None:
            return None
        return holder

    def _claim(
        self, order_id: int, adopted_id: int, report: OrderReport, result: ApplyResult
    ) -> None:
        """Our order takes over an order adopted as external: the adopted row's events and
        fills become ours (numbered after our own events) and the row goes."""
        ours, adopted = self._order(order_id), self._order(adopted_id)
        change = claim(ours, adopted, report.source)
        offset = ours.event_seq
        if adopted_id > 0:  # in the database (one adopted in this batch is only queued)
            self.uow.history.move(adopted_id, order_id, offset)
            self.uow.orders.delete(adopted_id)
        self.pending.fold(adopted_id, order_id, offset)
        theirs = self.fills.pop(adopted_id, NO_FILLS)
        self.fills[order_id] = self.fills.get(order_id, NO_FILLS).merged(theirs)
        for known in (self.lean, self.rows, self.states, self.orders, self.loaded):
            known.pop(adopted_id, None)
        self.account_of.pop(adopted_id, None)
        seq = offset + adopted.event_seq
        order = changed(
            ours,
            instrument=ours.instrument or adopted.instrument,
            broker_side=ours.broker_side or adopted.broker_side,
            order_type=ours.order_type or adopted.order_type,
            fills_quantity=ours.fills_quantity + adopted.fills_quantity,
            fills_value=ours.fills_value + adopted.fills_value,
        )
        order = self._write(order, change, report, result, seq=seq)
        self.claims += 1
        log.warning(
            "order %s claimed broker order %s (adopted as external order %s before our "
            "placement answer was found)",
            order_id,
            report.broker_order_id,
            adopted_id,
        )
        self._keep(order, change, result)

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
        self.account_of[order_id] = report.account_id
        self.moved = True
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

    def _apply_one(self, report: OrderReport, result: ApplyResult, position: int) -> None:
        if not (report.broker_order_id or report.client_order_id):
            # Nothing could find this order again: adopted, it would be adopted anew (its
            # fills with it) by every later report. The adapters leave such reports out.
            result.unnamed += 1
            log.warning("%s report naming no order left out: %s", report.broker, report.raw)
            return
        claims = self.claims
        order_id = self._resolve(report, result)
        if self.claims != claims:  # the report claimed an adopted order: that is a change
            result.applied += 1
            result.account(report.broker, report.account_id).applied += 1
            self._advance(order_id, report, result, counted=True)
        elif order_id not in self.rows and self.repeated.get(position) == order_id:
            result.unchanged += 1  # an order no report changed: as read, and so still repeated
        else:
            self._advance(order_id, report, result, counted=False)

    def _advance(
        self, order_id: int, report: OrderReport, result: ApplyResult, counted: bool
    ) -> None:
        """Apply one report to the order it names (`counted`: already counted as applied)."""
        known = self.fills.get(order_id, NO_FILLS)
        if repeats(self._state(order_id), report, known):
            result.unchanged += 0 if counted else 1
            return
        order = self._order(order_id)
        change = evolve(order.state, report, known)
        if change.stale:
            result.stale += 1
            log.info("stale report for order %s ignored in part: %s", order.id, report.status)
        if not change.changed:
            result.unchanged += 0 if counted else 1
            return
        order = self._write(order, change, report, result)
        counts = result.account(report.broker, report.account_id)
        if not counted:
            result.applied += 1
            counts.applied += 1
        counts.fills += len(change.fills)
        self._keep(order, change, result)

    def _keep(self, order: Order, change: Change, result: ApplyResult) -> None:
        """Follow a written change to its trade, proposal and alerts and queue the order."""
        result.order_ids.add(order.id)
        order = self.consequences.follow(order, change, result)
        self.moved = True
        self.orders[order.id] = order
        self.pending.save_order(order, self.loaded.get(order.id))
        state = order.state
        self._remember(
            order.id,
            state.broker,
            state.account_id,
            state.broker_order_id,
            order.client_order_id,
            order.external,
        )

    def _event(self, order_id: int, seq: int, event: OrderEvent, report: OrderReport) -> None:
        if self._payload_of is not report:
            self._payload_of, self._payload = report, dump_json(report.raw)
        payload = self._payload if event.payload is report.raw else dump_json(event.payload)
        self.pending.events.append(
            event_params(order_id, seq, event, payload, self.pending.recorded_at, self.codec)
        )

    def _write(
        self,
        order: Order,
        change: Change,
        report: OrderReport,
        result: ApplyResult,
        seq: int | None = None,
    ) -> Order:
        """Queue a change's events and fills (events numbered after `seq`, by default the
        order's last) and return the order in its new state."""
        seq = order.event_seq if seq is None else seq
        for event in change.events:
            seq += 1
            self._event(order.id, seq, event, report)
        state = change.after
        recorded_at = self.pending.recorded_at
        for fill in change.fills:
            self.pending.fills.append(
                fill_params(order.id, state.broker, state.account_id, fill, recorded_at, self.codec)
            )
        result.events += len(change.events)
        result.fills += len(change.fills)
        instrument = order.instrument or report.instrument
        if not change.fills:
            return changed(order, state=state, event_seq=seq, instrument=instrument)
        self.fills[order.id] = self.fills.get(order.id, NO_FILLS).adding(change.fills)
        stored = self.codec.stored  # the row's totals are those of the fills as stored
        quantity, value = order.fills_quantity, order.fills_value
        for fill in change.fills:
            amount = stored(fill.quantity)
            quantity += amount
            value += amount * stored(fill.price)
        return changed(
            order,
            state=state,
            event_seq=seq,
            instrument=instrument,
            fills_quantity=quantity,
            fills_value=value,
        )
