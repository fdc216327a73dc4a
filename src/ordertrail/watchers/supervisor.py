"""`AccountWatcher`: stream (reconnect, backoff, reconcile on connect) and poller per account."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from ordertrail.clock import Clock
from ordertrail.ports import Broker, StreamBatch, StreamConnected
from ordertrail.services.applier import Applier
from ordertrail.services.apply import ApplyResult
from ordertrail.services.placing import Placer
from ordertrail.services.sync import ListMemo, MissingOrders, SyncResult, sync_account
from ordertrail.storage.uow import UnitOfWork
from ordertrail.watchers.stats import AccountStats

log = logging.getLogger(__name__)
RESUME_EVERY_S = 30.0
STREAM_WINDOW = 256  # stream messages applied but not yet committed, at most
HEALTHY_S = 30.0  # a stream session up this long (or carrying messages) resets the backoff


class AccountWatcher:
    """Watch one broker account until cancelled; restarting it is always safe."""

    def __init__(
        self,
        broker: Broker,
        applier: Applier,
        uow_factory: Callable[[], UnitOfWork],
        placer: Placer,
        clock: Clock,
        stats: AccountStats,
        *,
        active_interval: float = 1.0,
        idle_interval: float = 5.0,
        lookback: timedelta = timedelta(days=2),
        max_backoff: float = 30.0,
    ) -> None:
        self.broker = broker
        self.applier = applier
        self.uow_factory = uow_factory
        self.placer = placer
        self.clock = clock
        self.stats = stats
        self.active_interval = active_interval
        self.idle_interval = idle_interval
        self.lookback = lookback
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._resumed_at = -RESUME_EVERY_S
        # When this watcher's unbroken run of syncs began: its first sync since it started or
        # since a sync failed (a failure may mean a new broker session, whose first lists may
        # be warm-up answers).
        self._listing_since: datetime | None = None
        # The last committed poll's reports: an order the broker lists unchanged is not applied
        # again (see ListMemo). The reconcile endpoint and `sync --once` go without one.
        self._list_memo = ListMemo()
        self._lost = MissingOrders()  # orders the broker lost: looked up once a minute

    async def run(self) -> None:
        """Reconcile, resume interrupted placements, then stream and poll until cancelled."""
        # A watcher run again (its lease regained) did not sync meanwhile: a new run begins,
        # and its first sync resumes what a dead process left unsent.
        self._listing_since = None
        self._resumed_at = -RESUME_EVERY_S
        self.stats.running = True
        try:
            await asyncio.gather(self._poll_loop(), self._stream_loop())
        finally:
            self.stats.running = False
            self.stats.subscribed = False

    def wake(self) -> None:
        """Poll soon (after a placement, say)."""
        self._wake.set()

    async def reconcile(self) -> SyncResult | None:
        """Poll the broker's list once and apply it; errors are logged and kept in the stats.

        Placements a dead process recorded but never sent are resumed on the first reconcile
        and then every `RESUME_EVERY_S` seconds, not on every poll.
        """
        async with self._sync_lock:
            try:
                result = await sync_account(
                    self.broker,
                    self.applier,
                    self.uow_factory,
                    self.clock,
                    self.lookback,
                    memo=self._list_memo,
                    lost=self._lost,
                    listing_since=self._listing_since,
                )
                if self._listing_since is None:
                    self._listing_since = result.timestamp
                if time.monotonic() - self._resumed_at >= RESUME_EVERY_S:
                    await self.placer.resume(self.broker.name, self.broker.account_id)
                    self._resumed_at = time.monotonic()
            except Exception as error:  # a watcher never dies of one bad poll
                self._listing_since = None
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning(
                    "%s/%s poll failed: %s", self.broker.name, self.broker.account_id, error
                )
                return None
            self.stats.last_polled_at = result.timestamp
            self.stats.last_reconciled_at = result.timestamp
            return result

    async def _poll_loop(self) -> None:
        while True:
            result = await self.reconcile()
            busy = result is not None and bool(result.working or result.applied.applied)
            interval = self.active_interval if busy else self.idle_interval
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):  # unlike wait_for, never eats a cancel
                    await self._wake.wait()
            self._wake.clear()

    async def _stream_loop(self) -> None:
        """Apply the stream's messages in order without waiting for each commit: up to
        `STREAM_WINDOW` applies are in flight, so messages that arrive while one commits are
        committed together (the applier keeps their order). An apply that fails wakes the
        poller at once, so what its messages carried is reconciled from the broker's list.

        Each (re)connect reconciles from the broker's list beside the stream, not in front of
        it (IBKR's paced list takes seconds). That is the poll that runs beside the stream all
        the time anyway: the apply path takes reports in any order, changes nothing for one
        it has seen, never moves a status back or lowers a filled quantity, and counts a fill
        once by its execution id, so the list and the messages converge however they
        interleave. Messages are read meanwhile, so none wait for the list."""
        reconciling: set[asyncio.Task[SyncResult | None]] = set()
        try:
            await self._stream_sessions(reconciling)
        finally:
            for task in reconciling:
                task.cancel()

    async def _stream_sessions(self, reconciling: set[asyncio.Task[SyncResult | None]]) -> None:
        attempt = 0
        while True:
            session = self.broker.stream()
            if session is None:
                return
            inflight: deque[asyncio.Future[ApplyResult]] = deque()
            connected_at: float | None = None
            carried = False  # whether the session brought anything but its connection
            try:
                async for item in session:
                    if isinstance(item, StreamConnected):
                        connected_at = time.monotonic()
                        self.stats.subscribed = True
                        task = asyncio.create_task(self.reconcile())
                        reconciling.add(task)
                        task.add_done_callback(reconciling.discard)
                        continue
                    carried = True
                    reports = item.reports if isinstance(item, StreamBatch) else (item,)
                    applying = self.applier.submit(reports)
                    applying.add_done_callback(self._applied)
                    inflight.append(applying)
                    await _window(inflight, STREAM_WINDOW)
                await _window(inflight, 0)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # reconnect whatever the stream died of
                self.stats.last_error = f"stream: {type(error).__name__}: {error}"
                log.warning(
                    "%s/%s stream dropped: %s", self.broker.name, self.broker.account_id, error
                )
            self.stats.subscribed = False
            self.stats.reconnects += 1
            # Only a session that proved itself starts the backoff afresh: one that is refused
            # right after it connects (an expired or unsupported session) must not be minted
            # again and again, each with its reconcile.
            if carried or (connected_at and time.monotonic() - connected_at >= HEALTHY_S):
                attempt = 0
            attempt += 1
            delay = min(self.max_backoff, 0.5 * 2 ** min(attempt, 6)) * (0.5 + random.random() / 2)
            await asyncio.sleep(delay)

    def _applied(self, applying: asyncio.Future[ApplyResult]) -> None:
        """A stream apply finished: if it failed, reconcile now rather than at the next poll."""
        if applying.cancelled():
            return
        if applying.exception() is None:  # orders it reported are known again: working
            self._lost.found(applying.result().order_ids)
            return
        error = applying.exception()
        self.stats.last_error = f"stream apply: {type(error).__name__}: {error}"
        log.warning(
            "%s/%s stream apply failed: %s", self.broker.name, self.broker.account_id, error
        )
        self.wake()


async def _window(inflight: deque[asyncio.Future[ApplyResult]], keep: int) -> None:
    """Wait until at most `keep` applies are in flight (their outcomes go to `_applied`)."""
    while inflight and (len(inflight) > keep or inflight[0].done()):
        oldest = inflight.popleft()
        if not oldest.done():
            await asyncio.wait([oldest])
