"""Syncing one account: poll the broker's list, look up what vanished, apply everything once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ordertrail.clock import Clock
from ordertrail.domain.report import OrderReport
from ordertrail.ports import Broker
from ordertrail.services.applier import Applier
from ordertrail.services.apply import ApplyResult
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
# How far before the last poll's start the next list reaches back: room for the broker's
# clock and the time an order's last change takes to show in its list.
SINCE_SLACK = timedelta(seconds=60)


MISSING_RECHECK = timedelta(seconds=60)  # how often an order the broker lost is looked up


class MissingOrders:
    """The working orders a watcher's syncs found neither listed nor known to the broker's
    lookup, with when each was last looked up.

    Such an order is looked up again once a `MISSING_RECHECK`, not at every poll, and does
    not count as working: the list cannot show it, so polling it fast finds nothing, and
    after an IBKR session reset an earlier session's order is never known again (503) — it
    would otherwise keep the account on fast polls, each with a lookup, for good. It is never
    assumed cancelled: the lookups go on, and any report of it (listed, looked up, streamed)
    puts it back among the working.
    """

    def __init__(self, recheck: timedelta = MISSING_RECHECK) -> None:
        self.recheck = recheck
        self._looked_up: dict[int, datetime] = {}

    def __contains__(self, order_id: int) -> bool:
        return order_id in self._looked_up

    def due(self, order_id: int, now: datetime) -> bool:
        """Tell whether an order absent from the list is to be looked up now."""
        last = self._looked_up.get(order_id)
        return last is None or not last <= now < last + self.recheck

    def lost(self, order_id: int, now: datetime) -> None:
        """The broker's lookup did not know the order either."""
        self._looked_up[order_id] = now

    def found(self, order_ids: Iterable[int]) -> None:
        """These orders were listed or looked up: not missing (any more)."""
        for order_id in order_ids:
            self._looked_up.pop(order_id, None)

    def keep_only(self, working: Iterable[int]) -> None:
        """Forget orders no longer working (a report ended them)."""
        still = set(working)
        self._looked_up = {k: v for k, v in self._looked_up.items() if k in still}


@dataclass(frozen=True)
class SyncResult:
    """What one sync saw and changed (the reconcile endpoint's answer)."""

    orders_examined: int
    fill_events_processed: int
    timestamp: datetime
    applied: ApplyResult
    missing: tuple[int, ...] = ()
    working: int = 0  # orders of the account working before this sync, less those missing
    unchanged: int = 0  # listed reports not applied: the very ones the last sync committed


def list_since(now: datetime, last_polled: datetime | None, lookback: timedelta) -> datetime:
    """How far back a sync's list must reach: to the start of the last sync that committed
    (less `SINCE_SLACK`), never further than `lookback`. Orders still working from before
    then are looked up one by one (`sync_account`), so nothing older is needed."""
    earliest = now - lookback
    if last_polled is None or last_polled > now:  # never synced, or a clock set back
        return earliest
    return max(earliest, last_polled - SINCE_SLACK)


class ListMemo:
    """The listed reports of an account's last sync whose apply committed, by broker order id.

    A broker whose list hands back the same report object for an order it shows unchanged
    (Tradier's `ListCache`) lets `sync_account` skip that report: it was applied and
    committed before, and `evolve` (domain/order.py) applied again to what it left finds
    nothing. The cumulative filled quantity derives no fill (`_derived_fill` wants an
    increase; known execution ids are not counted twice); the status asked for is the one
    taken, or one the transition table refused (stale: nothing written); every descriptive
    field holds the report's value or one the report was too old to overwrite (`_older`
    fills gaps only, and a filled gap never empties: `pick` never takes a `None`); the flags
    and the broker timestamp match. So: no events, nothing written.

    If a newer report (the stream's) moved the order on in between, the held one applied
    again could only be stale or put back what the newer one replaced; skipping it keeps
    the newer view. The only other write to an order's broker state a sync makes is the
    `missing` flag, given only to orders absent from the list, which the memo (the latest
    list only) does not hold.

    Only identity counts (`is`): an equal report built anew is applied as usual. The memo is
    replaced after an apply that committed, never after one that failed, so the next sync
    applies again whatever that one carried. It trusts the database to keep what committed:
    rows restored or edited behind a running watcher are set right by a sync without a memo
    (the reconcile endpoint, `sync --once`) or by a restart.
    """

    def __init__(self) -> None:
        self._reports: dict[str | None, OrderReport] = {}  # never a None key
        self.synced_at: datetime | None = None  # when the last sync that committed began

    def __len__(self) -> int:
        return len(self._reports)

    def holds(self, report: OrderReport) -> bool:
        """Tell whether this very report was listed by the last committed sync."""
        key = report.broker_order_id
        return key is not None and self._reports.get(key) is report

    def news(self, reports: Iterable[OrderReport]) -> list[OrderReport]:
        """The reports not held here (the same as those `holds` refuses, in one pass)."""
        held = self._reports
        return [r for r in reports if held.get(r.broker_order_id) is not r]

    def replace(self, reports: Iterable[OrderReport]) -> None:
        """Remember these listed reports (their apply committed), and only these; an order
        listed twice is not remembered, so neither copy is ever skipped."""
        with_id = [r for r in reports if r.broker_order_id is not None]
        held = {r.broker_order_id: r for r in with_id}
        if len(held) < len(with_id):
            twice = {k for k, n in Counter(r.broker_order_id for r in with_id).items() if n > 1}
            held = {key: r for key, r in held.items() if key not in twice}
        self._reports = held


async def sync_account(
    broker: Broker,
    applier: Applier,
    uow_factory: Callable[[], UnitOfWork],
    clock: Clock,
    lookback: timedelta = timedelta(days=2),
    memo: ListMemo | None = None,
    listing_since: datetime | None = None,
    lost: MissingOrders | None = None,
) -> SyncResult:
    """Poll one account and apply what it shows; an order absent from the list is looked up,
    never assumed cancelled. With a `memo`, listed reports the last committed sync already
    applied (the same objects) are not applied again (see `ListMemo`).

    The list reaches back to the last sync that committed (see `list_since`), so a broker
    whose older orders cost a heavier call (Tradier's `filter=all`) makes it only after a
    gap: the first sync ever, one after downtime, the first after midnight.

    With `lost` (a watcher's), orders the broker lost are looked up once a recheck period,
    not at every sync, and do not count as working (see `MissingOrders`).

    `listing_since` is when the caller's unbroken run of syncs began (a watcher's first sync
    since it started or last failed); without it this sync begins a run. It is recorded with
    the sync: unanswered placements count as absent only on a run old enough (`shown_absent`).
    """
    now = clock.now()

    def last_polled() -> datetime | None:
        with uow_factory() as uow:
            state = uow.sync_state.get(broker.name, broker.account_id)
        return state["last_polled_at"] if state else None

    last = memo.synced_at if memo is not None and memo.synced_at else None
    since = list_since(now, last or await applier.run(last_polled), lookback)
    listed_reports = list(await broker.list_orders(since=since))
    listed = {r.broker_order_id for r in listed_reports if r.broker_order_id}
    reports = list(listed_reports) if memo is None else memo.news(listed_reports)
    unchanged = len(listed_reports) - len(reports)

    def working() -> list[tuple[int, str | None]]:
        with uow_factory() as uow:
            return uow.orders.working(broker.name, broker.account_id)

    missing: list[int] = []
    lost = lost if lost is not None else MissingOrders()
    open_orders = await applier.run(working)
    lost.keep_only(order_id for order_id, _ in open_orders)
    for order_id, broker_id in open_orders:
        if broker_id is None or broker_id in listed:
            lost.found([order_id])
            continue
        if not lost.due(order_id, now):
            continue  # lost at its last lookup, less than a recheck period ago
        found = await broker.get_order(broker_id)
        if found is None:
            missing.append(order_id)
            lost.lost(order_id, now)
        else:
            reports.append(found)
            lost.found([order_id])
    result = await applier.apply(reports)
    if memo is not None:
        memo.replace(listed_reports)

    def record() -> None:
        with uow_factory() as uow:
            if missing:
                uow.orders.flag(missing, "missing", now)
            uow.sync_state.record(
                broker.name,
                broker.account_id,
                now,
                last_polled_at=now,
                listing_since=listing_since or now,
            )
            uow.commit()

    await applier.run(record)
    if memo is not None:
        memo.synced_at = now  # what `record` wrote: the next sync need not read it back
    if missing:
        log.warning(
            "%s/%s: orders %s not at the broker any more; status kept",
            broker.name,
            broker.account_id,
            missing,
        )
    return SyncResult(
        orders_examined=len(reports) + unchanged,
        fill_events_processed=result.fills,
        timestamp=now,
        applied=result,
        missing=tuple(missing),
        working=sum(1 for order_id, _ in open_orders if order_id not in lost),
        unchanged=unchanged,
    )
