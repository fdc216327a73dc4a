"""The applier: the async doorway to the apply path, one writer thread, group commit, notices.

Every write of this process goes through one thread, in arrival order. Reports that arrive
while a transaction is committing (or within `flush_interval` of the first of them) are applied
together in the next one (group commit): one transaction, one commit, each caller still gets
the result of its own reports. When the writer is idle a report is applied at once. A
transaction's callers get their results back with one hand-off per event loop, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from ordertrail.clock import Clock
from ordertrail.domain.report import OrderReport
from ordertrail.services.apply import ApplyResult, apply_groups
from ordertrail.services.changes import Changed, ChangeListener
from ordertrail.storage.uow import UnitOfWork

log = logging.getLogger(__name__)
Listener = Callable[[ApplyResult], None]
ReportsListener = Callable[[Sequence[OrderReport]], None]
Reader = Callable[[UnitOfWork, ApplyResult], Any]  # reads inside a transaction
Delivery = Callable[[Any], None]  # takes what a reader read, once the transaction committed
T = TypeVar("T")


POLL_SOURCES = frozenset({"poll", "lookup"})
SLICE = 16  # reports of a poll taken per transaction while a stream flows
FLOWING_S = 0.05  # a stream flows if one of its messages arrived this recently


@dataclass
class _Apply:
    """One caller's reports; a poll's are committed a slice at a time while a stream flows
    (`start`:`end` is the slice on its way, `so_far` what the slices before it changed)."""

    reports: list[OrderReport]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[ApplyResult]
    poll: bool = False
    start: int = 0
    end: int = 0
    so_far: ApplyResult | None = None

    def slice(self) -> list[OrderReport]:
        return self.reports[self.start : self.end]


Outcome = tuple[asyncio.Future[ApplyResult], ApplyResult | Exception]


@dataclass
class _Call:
    work: Callable[[], Any]
    done: Future[Any] = field(default_factory=Future)


_STOP = object()


@runtime_checkable
class CommitAware(Protocol):
    """An adapter that wants to hear which of the reports it made were committed."""

    def committed(self, reports: Sequence[OrderReport]) -> None:
        """Take the reports of one committed transaction (called on the writer thread)."""
        ...


class WriterUnits(Protocol):
    """Units of Work for the writer thread's own transactions, released when it stops."""

    def __call__(self) -> UnitOfWork: ...
    def close(self) -> None: ...


class Applier:
    """Serialise applies in this process (a single database writer thread) and announce changes.

    `writer_units`, if given, makes the writer thread's transactions (and only those: not
    `apply_now` from another thread) and is closed on that thread when it stops."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        flush_interval: float = 0.0,
        max_batch: int = 5000,
        writer_units: WriterUnits | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._writer_units = writer_units
        self._clock = clock
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Apply | _Call | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._report_listeners: list[ReportsListener] = []
        self._readers: list[tuple[Reader, Delivery]] = []
        self._change_listeners: list[ChangeListener] = []
        self._later: deque[_Apply] = deque()  # polls with slices left (writer thread only)
        self._streamed_at = -FLOWING_S
        self.totals = ApplyResult()  # counts only (`add_counts`): no ids pile up here
        self.latencies: list[float] = []
        self.transactions = 0

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every committed transaction's result (on the writer thread)."""
        self._listeners.append(listener)

    def subscribe_reports(self, listener: ReportsListener) -> None:
        """Call `listener` with the reports of every committed transaction (on the thread
        that committed it), never with those of a transaction that failed."""
        self._report_listeners.append(listener)

    def subscribe_changes(self, listener: ChangeListener) -> None:
        """Call `listener` with every change `tell` announces (on the telling thread)."""
        self._change_listeners.append(listener)

    def tell(self, changed: Changed) -> None:
        """Announce a committed write made beside the apply path (an order recorded before
        placing, a cancel request, a proposal) to live pages and other processes. Never
        raises: the write stands, and pages catch up on their next refresh."""
        for listener in self._change_listeners:
            try:
                listener(changed)
            except Exception:
                log.exception("a change listener failed")

    def subscribe_in_transaction(self, read: Reader, deliver: Delivery) -> None:
        """Call `read(uow, result)` inside every transaction once its writes are made (it sees
        them and no later commit, and must not write), then `deliver` what it returned once
        the transaction committed; never for one that failed. Both run on the writer thread;
        a reader that raises is logged and delivers nothing."""
        self._readers.append((read, deliver))

    def apply_now(self, reports: Sequence[OrderReport]) -> ApplyResult:
        """Apply in the calling thread (CLI, tests, work already on the writer thread)."""
        started = time.perf_counter()
        read: list[tuple[Delivery, Any]] = []
        [result] = apply_groups(
            self._uow_factory(),
            [reports],
            self._clock,
            lambda uow, results: self._read(uow, results, read),
        )
        self._announce(result, time.perf_counter() - started, reports, read)
        return result

    async def apply(self, reports: Sequence[OrderReport]) -> ApplyResult:
        """Apply on the writer thread (with whatever else is waiting) and return what changed."""
        return await self.submit(reports)

    def submit(self, reports: Sequence[OrderReport]) -> asyncio.Future[ApplyResult]:
        """Queue reports for the writer thread (from a running loop) and return the future of
        what they changed: `apply` without a task, for a caller that keeps several going."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[ApplyResult] = loop.create_future()
        if not reports:
            done.set_result(ApplyResult())
            return done
        poll = all(r.source in POLL_SOURCES for r in reports)
        if not poll:
            self._streamed_at = time.monotonic()
        self._submit(_Apply(list(reports), loop, done, poll))
        return done

    async def run(self, work: Callable[[], T]) -> T:
        """Run other database writes on the same writer thread (keeps SQLite single-writer)."""
        call = self._submit(_Call(work))
        result: T = await asyncio.wrap_future(call.done)
        return result

    def call(self, work: Callable[[], T]) -> T:
        """`run` from a thread without a loop: run `work` on the writer thread, between two
        transactions, and wait for its result."""
        call: _Call = self._submit(_Call(work))
        result: T = call.done.result()
        return result

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _submit(self, item: _Apply | _Call) -> Any:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="ordertrail-apply", daemon=True
                )
                self._thread.start()
            self._queue.put(item)
        return item

    def _serve(self) -> None:
        try:
            self._work()
        finally:
            if self._writer_units is not None:
                self._writer_units.close()

    def _work(self) -> None:
        held: _Apply | _Call | object | None = None
        while True:
            item = held if held is not None else self._next()
            held = None
            if item is _STOP:
                for begun in self._later:  # finish what was begun, whole
                    if not begun.done.cancelled():
                        self._commit([self._take(begun, whole=True)])
                return
            if isinstance(item, _Call):
                if item.done.set_running_or_notify_cancel():  # False: cancelled while queued
                    _settle(item.done, item.work)
                continue
            assert isinstance(item, _Apply)
            batch, held = self._gather(item)
            batch = [a for a in batch if not a.done.cancelled()]  # cancelled while queued
            if batch:
                self._commit(batch)

    def _next(self) -> _Apply | _Call | object:
        """The next item: what callers queued first, then the rest of a poll begun."""
        if self._later:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                return self._later.popleft()
        return self._queue.get()

    def _take(self, item: _Apply, whole: bool = False) -> _Apply:
        """Choose the slice of `item` to apply next: all it has left, or `SLICE` reports of
        a poll while a stream flows. A poll's reports name one order each and its caller
        waits for them all, so committing them in slices with stream messages in between
        only moves where those messages fall among them, which timing decides anyway."""
        item.end = len(item.reports)
        flowing = time.monotonic() - self._streamed_at < FLOWING_S
        if item.poll and flowing and not whole and item.end - item.start > SLICE:
            item.end = item.start + SLICE
        return item

    def _gather(self, first: _Apply) -> tuple[list[_Apply], _Apply | _Call | object | None]:
        """Take the reports waiting behind `first` (and those arriving within the flush
        interval), up to `max_batch`; return them and the first item of another kind."""
        batch = [self._take(first)]
        count = first.end - first.start
        deadline = time.monotonic() + self.flush_interval
        while count < self.max_batch:
            wait = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, _Apply):
                return batch, item
            batch.append(self._take(item))
            count += item.end - item.start
        return batch, None

    def _commit(self, batch: list[_Apply]) -> None:
        """Apply a batch in one transaction; if it fails, apply each caller's reports alone so
        one bad batch of reports fails only its own caller."""
        started = time.perf_counter()
        groups = [a.slice() for a in batch]
        read: list[tuple[Delivery, Any]] = []
        try:
            results = apply_groups(
                (self._writer_units or self._uow_factory)(),
                groups,
                self._clock,
                lambda uow, done: self._read(uow, done, read),
            )
        except Exception as error:
            if len(batch) == 1:  # a poll's slices already committed stay: as after a crash
                _hand_back(batch, [error])
                return
            for single in batch:
                self._commit([single])
            return
        merged = ApplyResult.combined(results)
        reports = [r for group in groups for r in group] if self._report_listeners else []
        try:
            self._announce(merged, time.perf_counter() - started, reports, read)
        except Exception:  # committed all the same; a listener must not stop the writer
            log.exception("an apply listener failed")
        finished, outcomes = [], []
        for item, result in zip(batch, results, strict=True):
            if item.so_far is not None:
                item.so_far.merge(result)
                result = item.so_far
            if item.end < len(item.reports):  # a poll with slices left
                item.so_far, item.start = result, item.end
                self._later.append(item)
            else:
                finished.append(item)
                outcomes.append(result)
        _hand_back(finished, outcomes)

    def _read(
        self, uow: UnitOfWork, results: list[ApplyResult], into: list[tuple[Delivery, Any]]
    ) -> None:
        """Run the in-transaction readers over a transaction's merged result."""
        if not self._readers:
            return
        merged = ApplyResult.combined(results)
        for read, deliver in self._readers:
            try:
                into.append((deliver, read(uow, merged)))
            except Exception:  # the apply stands; only what this reader would have said is lost
                log.exception("an in-transaction reader failed")

    def _announce(
        self,
        result: ApplyResult,
        seconds: float,
        reports: Sequence[OrderReport],
        read: Sequence[tuple[Delivery, Any]] = (),
    ) -> None:
        self.totals.add_counts(result)
        self.transactions += 1
        self.latencies.append(seconds)
        if len(self.latencies) > 1000:
            del self.latencies[:500]
        for deliver, found in read:
            deliver(found)
        for listener in self._listeners:
            listener(result)
        for report_listener in self._report_listeners:
            report_listener(reports)


def _hand_back(batch: Sequence[_Apply], outcomes: Sequence[ApplyResult | Exception]) -> None:
    """Give each caller its outcome: one call into each waiting loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for item, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(item.loop, []).append((item.done, outcome))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_all, settled)


def _settle_all(settled: list[Outcome]) -> None:
    for done, outcome in settled:
        if done.done():  # cancelled after the writer took it: the work stands, unread
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


def _settle(done: Future[Any], work: Callable[[], Any]) -> None:
    try:
        done.set_result(work())
    except BaseException as error:  # handed to the caller, who re-raises it
        done.set_exception(error)
