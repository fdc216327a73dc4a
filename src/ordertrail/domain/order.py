"""An order's state and `evolve`, the one function turning a broker report into events and fills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from ordertrail.domain.copying import built
from ordertrail.domain.events import (
    STATUS_EVENT,
    EventKind,
    Fill,
    OrderEvent,
    normalise,
    synthetic_execution_id,
)
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus, can_transition

ZERO = Decimal(0)
PLACEMENT_SOURCE = "place"  # OrderReport.source of a broker's answer to our placement
_T = TypeVar("_T")
_WORKING = frozenset({OrderStatus.PENDING, OrderStatus.PLACED, OrderStatus.PARTIAL})
_FILLS_FINISH = _WORKING | {OrderStatus.CANCELLED, OrderStatus.EXPIRED}  # a full fill ends these


@dataclass(frozen=True)
class OrderState:
    """What we know of an order now: the part of an order row a report can change."""

    broker: str
    account_id: str
    broker_order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    broker_status: str | None = None
    filled_quantity: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    quantity: Decimal | None = None
    remaining_quantity: Decimal | None = None
    limit_price: Decimal | None = None
    reason: str | None = None
    last_broker_ts: datetime | None = None
    flags: frozenset[str] = frozenset()


class Placement(StrEnum):
    """How far our placement call got: decides what is safe after a crash."""

    RECORDED = "recorded"  # committed, broker never called: safe to place on recovery
    SENDING = "sending"  # broker called, answer unknown: never place again, search by id
    RESENT = "resent"  # sent once more after a sync proved the first never arrived; never again
    SENT = "sent"  # the broker answered
    WITHDRAWN = "withdrawn"  # cancelled before it was ever sent


@dataclass(frozen=True)
class KnownFills:
    """What `evolve` weighs a report's executions against: the total quantity and value
    (quantity x price) of the fills recorded for an order, and the execution ids among them
    that a report may repeat (every recorded one, or at least those the reports at hand name).

    Totals, not the fills themselves: an order's thousandth execution costs what its first did.
    """

    quantity: Decimal = ZERO
    value: Decimal = ZERO
    ids: frozenset[str] = frozenset()

    @staticmethod
    def of(fills: Iterable[Fill]) -> KnownFills:
        """The totals and ids of these fills (each execution id counted once)."""
        return NO_FILLS.adding(fills)

    def adding(self, fills: Iterable[Fill]) -> KnownFills:
        """These totals with more fills recorded (an id already known is not counted again)."""
        quantity, value, ids = self.quantity, self.value, set(self.ids)
        for fill in fills:
            if fill.execution_id not in ids:
                ids.add(fill.execution_id)
                quantity += fill.quantity
                value += fill.quantity * fill.price
        return built(KnownFills, quantity=quantity, value=value, ids=frozenset(ids))

    def merged(self, other: KnownFills) -> KnownFills:
        """The fills of two orders as one's (a claimed order's and its claimer's)."""
        return KnownFills(
            self.quantity + other.quantity, self.value + other.value, self.ids | other.ids
        )


NO_FILLS = KnownFills()


@dataclass(frozen=True)
class Order:
    """An order row: its links, its broker state and the totals of its recorded fills."""

    id: int
    state: OrderState
    external: bool
    client_order_id: str | None = None
    proposal_id: int | None = None
    trade_id: int | None = None
    side: ProposalKind | None = None
    placement: Placement | None = None
    instrument: Instrument | None = None
    broker_side: str | None = None
    order_type: str | None = None
    event_seq: int = 0
    alert_match: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    fills_quantity: Decimal = ZERO  # the totals of `KnownFills`, kept on the row
    fills_value: Decimal = ZERO


@dataclass(frozen=True)
class Change:
    """The outcome of applying one report: the new state and what to write."""

    before: OrderState
    after: OrderState
    events: tuple[OrderEvent, ...]
    fills: tuple[Fill, ...]
    stale: bool

    @property
    def changed(self) -> bool:
        return bool(self.events)

    @property
    def status_changed(self) -> bool:
        return self.before.status is not self.after.status

    @property
    def filled_increase(self) -> Decimal:
        return self.after.filled_quantity - self.before.filled_quantity


def evolve(state: OrderState, report: OrderReport, known: KnownFills = NO_FILLS) -> Change:
    """Apply `report` to `state` under the rules: no regression, fills once, nothing for nothing.

    `known` are the fills recorded for the order (see `KnownFills`)."""
    fills, filled, avg, quantity_stale = _fills_and_quantity(state, report, known)
    status, status_stale = _next_status(state, report, filled)
    stale = quantity_stale or status_stale
    after = _next_state(state, report, status, filled, avg, stale)
    events = _events(state, after, report, fills)
    return built(Change, before=state, after=after, events=events, fills=fills, stale=stale)


class KnownState(Protocol):
    """What `repeats` reads of an order's state: an OrderState, or a light view of a row."""

    @property
    def broker_order_id(self) -> str | None: ...
    @property
    def status(self) -> OrderStatus: ...
    @property
    def broker_status(self) -> str | None: ...
    @property
    def filled_quantity(self) -> Decimal: ...
    @property
    def avg_fill_price(self) -> Decimal | None: ...
    @property
    def quantity(self) -> Decimal | None: ...
    @property
    def remaining_quantity(self) -> Decimal | None: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def flags(self) -> frozenset[str]: ...


def repeats(state: KnownState, report: OrderReport, known: KnownFills = NO_FILLS) -> bool:
    """Tell cheaply that `evolve` would find nothing: the report repeats what we know.

    True guarantees `evolve(state, report, known)` has no events and is not stale, so
    the report can be skipped; False proves nothing (`evolve` decides). Polls of unchanged
    orders take this path.
    """
    if report.executions or state.broker_order_id is None:
        return False
    said = report.broker_order_id
    if said is not None and said != state.broker_order_id:
        return False
    filled = state.filled_quantity
    said_amount = report.filled_quantity
    if said_amount is not None and said_amount != filled:
        return False
    if not report.derives_fills:
        said_amount = report.avg_fill_price
        if said_amount is not None and said_amount != state.avg_fill_price:
            return False
        if known.quantity > filled:
            return False
    if report.flags != state.flags:
        return False
    # Anything the report says that we know otherwise is news (None says nothing).
    said = report.broker_status
    if said is not None and said != state.broker_status:
        return False
    said = report.reason
    if said is not None and said != state.reason:
        return False
    said_amount = report.quantity
    if said_amount is not None and said_amount != state.quantity:
        return False
    said_amount = report.remaining_quantity
    if said_amount is not None and said_amount != state.remaining_quantity:
        return False
    said_amount = report.limit_price
    if said_amount is not None and said_amount != state.limit_price:
        return False
    return _wanted_status(state, report, filled) is state.status


def _fills_and_quantity(
    state: OrderState, report: OrderReport, known: KnownFills
) -> tuple[tuple[Fill, ...], Decimal, Decimal | None, bool]:
    q0 = state.filled_quantity
    reported = report.filled_quantity
    stale = reported is not None and reported < q0
    if report.derives_fills:
        fill = _derived_fill(state, report)
        if fill is None:
            return (), q0, state.avg_fill_price, stale
        q1 = q0 + fill.quantity
        derived_avg = report.avg_fill_price
        if derived_avg is None:
            derived_avg = _vwap_add(state, fill)
        return (fill,), q1, derived_avg, stale
    new = _new_executions(report, known.ids)
    exec_total = known.quantity + sum((f.quantity for f in new), ZERO)
    filled = max(q0, reported if reported is not None else ZERO, exec_total)
    avg = state.avg_fill_price
    if report.avg_fill_price is not None and not stale and filled >= q0:
        avg = report.avg_fill_price
    elif new and filled > ZERO and exec_total:
        avg = (known.value + sum((f.quantity * f.price for f in new), ZERO)) / exec_total
    return new, filled, avg, stale


def _derived_fill(state: OrderState, report: OrderReport) -> Fill | None:
    """The fill between the last cumulative quantity we saw and this one, if priced."""
    q0, q1 = state.filled_quantity, report.filled_quantity
    if q1 is None or q1 <= q0:
        return None
    delta = q1 - q0
    price: Decimal | None = None
    if report.last_fill_quantity == delta and report.last_fill_price:
        price = report.last_fill_price
    elif report.avg_fill_price is not None:
        a0 = state.avg_fill_price or ZERO
        price = (report.avg_fill_price * q1 - a0 * q0) / delta
    if price is None:
        return None  # filled before its numbers: wait for a report that carries them
    order_key = report.broker_order_id or state.broker_order_id or "?"
    return built(
        Fill,
        execution_id=synthetic_execution_id(report.broker, report.account_id, order_key, q1),
        quantity=delta,
        price=price,
        executed_at=report.broker_ts,
        synthetic=True,
    )


def _vwap_add(state: OrderState, fill: Fill) -> Decimal:
    q0 = state.filled_quantity
    a0 = state.avg_fill_price or ZERO
    return (a0 * q0 + fill.price * fill.quantity) / (q0 + fill.quantity)


def _new_executions(report: OrderReport, known: frozenset[str]) -> tuple[Fill, ...]:
    seen = set(known)
    new: list[Fill] = []
    for execution in report.executions:
        if execution.execution_id in seen:
            continue
        seen.add(execution.execution_id)
        new.append(
            built(
                Fill,
                execution_id=execution.execution_id,
                quantity=execution.quantity,
                price=execution.price,
                executed_at=execution.executed_at,
                synthetic=False,
            )
        )
    return tuple(new)


def _next_status(
    state: OrderState, report: OrderReport, filled: Decimal
) -> tuple[OrderStatus, bool]:
    """Pick the status the report implies and say whether the report was stale.

    A working report is PARTIAL when it says something filled; a sparse report (no
    quantity) says nothing about fills, so what we already know stands for it.
    """
    wanted = _wanted_status(state, report, filled)
    if wanted is state.status:
        return state.status, False
    if wanted is OrderStatus.PENDING and state.status is OrderStatus.PENDING:
        return state.status, False
    if can_transition(state.status, wanted):
        return wanted, False
    return state.status, True


def _wanted_status(state: KnownState, report: OrderReport, filled: Decimal) -> OrderStatus:
    """The status the report asks for, read with the quantities (before the transition table)."""
    wanted = report.status if report.status is not None else state.status
    implied = report.filled_quantity if report.filled_quantity is not None else filled
    quantity = report.quantity if report.quantity is not None else state.quantity
    fully_filled = quantity is not None and quantity > ZERO and filled >= quantity
    if wanted in _WORKING and (implied > ZERO or (report.executions and filled > ZERO)):
        wanted = OrderStatus.PARTIAL
    if fully_filled and wanted in _FILLS_FINISH:
        wanted = OrderStatus.FILLED
    return wanted


def _next_state(
    state: OrderState,
    report: OrderReport,
    status: OrderStatus,
    filled: Decimal,
    avg: Decimal | None,
    stale: bool,
) -> OrderState:
    older = _older(state, report)
    fresh = not (stale or older)

    def pick(new: _T | None, old: _T) -> _T:
        """Take the report's value; a stale report gives nothing, an older one only fills gaps."""
        if new is None or stale or (older and old is not None):
            return old
        return new

    ts = state.last_broker_ts
    if report.broker_ts is not None and (ts is None or report.broker_ts > ts):
        ts = report.broker_ts
    remaining = state.remaining_quantity
    if report.remaining_quantity is not None and fresh:
        remaining = report.remaining_quantity
    elif state.quantity is not None and filled != state.filled_quantity:
        remaining = max(state.quantity - filled, ZERO)
    return built(  # every field given: cheaper than the frozen class's __init__
        OrderState,
        broker=state.broker,
        account_id=state.account_id,
        broker_order_id=state.broker_order_id or report.broker_order_id,
        status=status,
        broker_status=pick(report.broker_status, state.broker_status),
        filled_quantity=filled,
        avg_fill_price=avg,
        quantity=pick(report.quantity, state.quantity),
        remaining_quantity=remaining,
        limit_price=pick(report.limit_price, state.limit_price),
        reason=pick(report.reason, state.reason),
        last_broker_ts=ts,
        flags=report.flags if fresh and report.flags != state.flags else state.flags,
    )


def _older(state: OrderState, report: OrderReport) -> bool:
    """Tell whether a later broker view has already spoken for this report's descriptive fields.

    A report stamped before the last one we applied, or the placement answer of an order the
    broker has since reported on (the answer can land after the stream's first updates), may
    fill in what we lack but overwrites nothing.
    """
    if report.source == PLACEMENT_SOURCE and state.broker_status is not None:
        return True
    last = state.last_broker_ts
    return report.broker_ts is not None and last is not None and report.broker_ts < last


def _events(
    before: OrderState, after: OrderState, report: OrderReport, fills: tuple[Fill, ...]
) -> tuple[OrderEvent, ...]:
    def event(kind: EventKind, message: str) -> OrderEvent:
        return built(  # every field given: cheaper than the frozen class's __init__
            OrderEvent,
            kind=kind,
            status_before=before.status,
            status_after=after.status,
            filled_quantity=after.filled_quantity,
            avg_fill_price=after.avg_fill_price,
            broker_status=after.broker_status,
            message=message,
            source=report.source,
            broker_ts=report.broker_ts,
            payload=report.raw,
        )

    events: list[OrderEvent] = []
    if before.broker_order_id is None and after.broker_order_id is not None:
        events.append(event(EventKind.ACKNOWLEDGED, f"Broker order id {after.broker_order_id}"))
    events.extend(
        event(EventKind.FILL, f"Fill {normalise(f.quantity)} @ {normalise(f.price)}") for f in fills
    )
    if after.status is not before.status:
        events.append(event(STATUS_EVENT[after.status], _status_message(after)))
    elif _visible_change(before, after):
        events.append(event(EventKind.UPDATED, _update_message(before, after)))
    return tuple(events)


def _visible_change(before: OrderState, after: OrderState) -> bool:
    """Tell whether anything but the timestamp and the (already announced) broker id moved."""
    return _shown(before) != _shown(after)


def _shown(state: OrderState) -> tuple[object, ...]:
    """Every field of a state but the broker timestamp and the broker order id."""
    return (
        state.broker,
        state.account_id,
        state.status,
        state.broker_status,
        state.filled_quantity,
        state.avg_fill_price,
        state.quantity,
        state.remaining_quantity,
        state.limit_price,
        state.reason,
        state.flags,
    )


def _status_message(state: OrderState) -> str:
    text = state.status.value.capitalize()
    if state.status is OrderStatus.PARTIAL:
        total = f"/{normalise(state.quantity)}" if state.quantity is not None else ""
        text = f"Partially filled {normalise(state.filled_quantity)}{total}"
    elif state.status is OrderStatus.REJECTED and state.reason:
        text = f"Rejected: {state.reason}"
    if state.broker_status:
        text += f" (broker: {state.broker_status})"
    return text


def _update_message(before: OrderState, after: OrderState) -> str:
    parts = []
    if before.broker_status != after.broker_status:
        parts.append(f"broker status {before.broker_status or '-'} → {after.broker_status}")
    if before.filled_quantity != after.filled_quantity:
        parts.append(f"filled {normalise(after.filled_quantity)}")
    if before.avg_fill_price != after.avg_fill_price and after.avg_fill_price is not None:
        parts.append(f"average price {normalise(after.avg_fill_price)}")
    if before.reason != after.reason and after.reason:
        parts.append(f"reason {after.reason}")
    return "Updated: " + (", ".join(parts) if parts else "broker details")
