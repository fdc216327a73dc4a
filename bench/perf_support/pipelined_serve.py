"""`ordertrail serve` with the watcher's stream loop pipelined: a what-if for the stream bench.

The watcher (ordertrail/watchers/supervisor.py) awaits each stream message's commit before it
reads the next, so a stream is applied one message per transaction and cannot go faster than
one commit round trip per message. Here the loop hands each message to the applier and reads
on, keeping up to `WINDOW` applies in flight; the applier keeps their order (one writer, first
come first served) and commits whatever waits together (group commit). Errors still end the
session as before. Only the stream bench uses this, to show what the pipelining would buy.

    python -m bench.perf_support.pipelined_serve --port 8000
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections import deque
from typing import Any

from ordertrail.cli.main import main
from ordertrail.ports import StreamBatch, StreamConnected
from ordertrail.watchers.supervisor import AccountWatcher

WINDOW = 256
log = logging.getLogger("ordertrail.watchers.supervisor")


async def _settle(inflight: deque[asyncio.Future[Any]], keep: int) -> None:
    """Wait until at most `keep` applies are in flight; raise what a finished one raised."""
    while inflight and (len(inflight) > keep or inflight[0].done()):
        await inflight.popleft()


async def _pipelined_stream_loop(self: AccountWatcher) -> None:
    attempt = 0
    while True:
        session = self.broker.stream()
        if session is None:
            return
        inflight: deque[asyncio.Future[Any]] = deque()
        try:
            async for item in session:
                if isinstance(item, StreamConnected):
                    attempt = 0
                    self.stats.subscribed = True
                    await _settle(inflight, 0)
                    await self.reconcile()
                    continue
                reports = item.reports if isinstance(item, StreamBatch) else (item,)
                inflight.append(asyncio.ensure_future(self.applier.apply(reports)))
                await _settle(inflight, WINDOW)
            await _settle(inflight, 0)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # reconnect whatever the stream died of
            self.stats.last_error = f"stream: {type(error).__name__}: {error}"
            log.warning("%s/%s stream dropped: %s", self.broker.name, self.broker.account_id, error)
        self.stats.subscribed = False
        self.stats.reconnects += 1
        attempt += 1
        delay = min(self.max_backoff, 0.5 * 2 ** min(attempt, 6)) * (0.5 + random.random() / 2)
        await asyncio.sleep(delay)


if __name__ == "__main__":
    AccountWatcher._stream_loop = _pipelined_stream_loop  # type: ignore[method-assign]
    sys.argv = ["ordertrail", "serve", *sys.argv[1:]]
    main()
