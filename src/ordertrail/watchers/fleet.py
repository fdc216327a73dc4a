"""`Fleet`: run the watchers of every account this process holds a lease on, and take over
the accounts of workers that died."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ordertrail.watchers.leases import Leases

if TYPE_CHECKING:
    from ordertrail.bootstrap import App

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_PAUSE_S = 30.0  # the longest wait between two attempts after failures
TAKEOVER_WAITS = 1.5  # intervals a worker waits before watching an account another had


_FLEETS = itertools.count(1)


def worker_name() -> str:
    """How this process appears as an account's owner."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Fleet:
    """Every `interval` seconds: check the lease connection, pick up new accounts, and start a
    watcher for each account whose lease this process wins."""

    def __init__(self, app: App, leases: Leases, interval: float = 1.0) -> None:
        self.app = app
        self.leases = leases
        self.interval = interval
        number = next(_FLEETS)  # a second fleet in one process (tests) is another owner
        self.name = worker_name() if number == 1 else f"{worker_name()}#{number}"
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ordertrail-lease")

    async def _lease(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def run(self) -> None:
        """Hold leases and watch accounts until cancelled."""
        try:
            # Be seen by the other workers before claiming, so shares start out fair.
            with contextlib.suppress(Exception):  # a failure here shows again in the cycle
                await self._lease(self.leases.workers)
            await asyncio.sleep(self.interval)
            pause = self.interval
            while True:
                try:
                    await self.cycle()
                    pause = self.interval
                except Exception as error:  # the database or the leases failed for now
                    pause = min(pause * 2, MAX_PAUSE_S)
                    log.warning(
                        "%s: taking up accounts failed (%s: %s); again in %.0f s",
                        self.name,
                        type(error).__name__,
                        error,
                        pause,
                    )
                await asyncio.sleep(pause)
        finally:
            await self._stop_all()
            await self._lease(self.leases.close)
            self._executor.shutdown(wait=False)

    async def cycle(self) -> None:
        """One round: drop everything if the leases died, hand back more than a fair share,
        then claim free accounts up to a fair share (all of them when alone)."""
        if not await self._lease(self.leases.alive):
            await self._stop_all()
        await self.app.applier.run(self.app.refresh_brokers)
        for key, task in list(self.tasks.items()):
            if task.done():
                log.warning("watcher %s ended; releasing its lease", key)
                await self._release(key)
        workers = await self._lease(self.leases.workers)
        fair = math.ceil(len(self.app.watchers) / workers)
        for key in sorted(self.tasks, reverse=True)[: max(0, len(self.tasks) - fair)]:
            log.info("%s hands %s back (%d workers share the accounts)", self.name, key, workers)
            await self._release(key)
        for key, watcher in sorted(self.app.watchers.items()):
            if len(self.tasks) >= fair:
                break
            if key not in self.tasks and await self._lease(partial(self.leases.try_acquire, key)):
                log.info("%s watches %s", self.name, key)
                try:
                    before = await self.app.applier.run(
                        partial(self.app.record_owner, key, self.name)
                    )
                except Exception:
                    await self._lease(partial(self.leases.release, key))  # claim it afresh
                    raise
                # Taken over from another worker: let it notice first that its lease is gone
                # (it looks every interval and then stops its watchers), so that the two
                # never watch the account at once.
                wait = TAKEOVER_WAITS * self.interval if before not in (None, self.name) else 0
                self.tasks[key] = asyncio.create_task(
                    self._watch(watcher.run, wait), name=f"watch {key}"
                )

    @staticmethod
    async def _watch(run: Callable[[], Coroutine[Any, Any, None]], wait: float) -> None:
        if wait > 0:
            await asyncio.sleep(wait)
        await run()

    async def _release(self, key: str) -> None:
        task = self.tasks.pop(key)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await self._lease(partial(self.leases.release, key))

    async def _stop_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
