"""The applier: the async doorway to `apply_reports`, one batch at a time, with change notices."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ordertrail.clock import Clock
from ordertrail.domain.report import OrderReport
from ordertrail.services.apply import ApplyResult, apply_reports
from ordertrail.storage.uow import UnitOfWork

Listener = Callable[[ApplyResult], None]
T = TypeVar("T")


class Applier:
    """Serialise applies in this process (a single database writer thread) and announce changes."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ordertrail-apply")
        self._listeners: list[Listener] = []
        self.totals = ApplyResult()
        self.latencies: list[float] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` with every committed batch's result."""
        self._listeners.append(listener)

    def apply_now(self, reports: Sequence[OrderReport]) -> ApplyResult:
        """Apply in the calling thread (CLI, tests); still one transaction."""
        started = time.perf_counter()
        result = apply_reports(self._uow_factory(), reports, self._clock)
        self._announce(result, time.perf_counter() - started)
        return result

    async def apply(self, reports: Sequence[OrderReport]) -> ApplyResult:
        """Apply on the writer thread and return what changed."""
        if not reports:
            return ApplyResult()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.apply_now, list(reports))

    async def run(self, work: Callable[[], T]) -> T:
        """Run other database writes on the same writer thread (keeps SQLite single-writer)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work)

    def _announce(self, result: ApplyResult, seconds: float) -> None:
        self.totals.merge(result)
        self.latencies.append(seconds)
        if len(self.latencies) > 1000:
            del self.latencies[:500]
        for listener in self._listeners:
            listener(result)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
