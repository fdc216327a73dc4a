"""A placing-and-syncing ordertrail process for the crash tests, killed with SIGKILL at will.

`python -m tests.crash.driver --db URL --base-url URL --token T --account A [--crash-at P]
[--final]`: reconcile and resume what a killed run left, then submit every NEW proposal in id
order with a sync every few placements, printing one line per step (the test kills it after a
random number of lines). `--crash-at` kills the process at one exact point of a placement:

- `recorded`: the order is committed, the broker not yet called (placement `recorded`);
- `sending`: placement `sending` is committed, the request not yet sent;
- `answered`: the broker took the order, its answer is not yet recorded.

`--final` only reconciles, places what was recorded and never sent, and reconciles again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from ordertrail.bootstrap import App, bootstrap
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.domain.order import Placement
from ordertrail.ports import Broker, PlaceRequest, PlaceResult
from ordertrail.services.placing import Placer
from ordertrail.settings import Settings
from ordertrail.storage.tables import proposals

SYNC_EVERY = 7


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_at(point: str | None) -> None:
    """Arm one crash point for this process."""
    if point in ("recorded", "sending"):
        original = Placer._mark

        def mark(
            self: Placer, order_id: int, placement: Placement, only_from: Placement | None = None
        ) -> bool:
            if placement is Placement.SENDING and point == "recorded":
                die()
            marked = original(self, order_id, placement, only_from)
            if placement is Placement.SENDING and point == "sending":
                die()
            return marked

        Placer._mark = mark  # type: ignore[method-assign]


class DyingAfterPlace:
    """The broker, except that this process dies once the broker took an order."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.name = inner.name
        self.account_id = inner.account_id

    async def place(self, request: PlaceRequest) -> PlaceResult:
        await self.inner.place(request)
        die()
        raise AssertionError("unreachable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def build(args: argparse.Namespace) -> App:
    config = TradierConfig(
        access_token=args.token,
        account_id=args.account,
        base_url=args.base_url,
        stream_enabled=False,
        retry_backoff_s=0.01,
        fill_data_deadline_s=1.0,
        fill_data_interval_s=0.02,
    )
    broker: Any = TradierBroker(config)
    if args.crash_at == "answered":
        broker = DyingAfterPlace(broker)
    return bootstrap(Settings(database_url=args.db), brokers={f"tradier:{args.account}": broker})


def say(text: str) -> None:
    print(text, flush=True)


async def run(args: argparse.Namespace) -> None:
    crash_at(args.crash_at)
    app = build(args)
    watcher = app.watchers[f"tradier:{args.account}"]
    try:
        await watcher.reconcile()
        resumed = await app.placer.resume("tradier", args.account, grace_s=0, doubt_s=0)
        say(f"started resumed={resumed}")
        if args.final:
            await watcher.reconcile()
            say("final")
            return
        new = select(proposals.c.id).where(proposals.c.status == "NEW")
        with app.engine.connect() as c:
            fresh = [i for (i,) in c.execute(new.order_by(proposals.c.id))]
        for count, proposal_id in enumerate(fresh, 1):
            order = await app.placer.submit(proposal_id)
            say(f"placed {proposal_id} {order.state.broker_order_id}")
            if count % SYNC_EVERY == 0:
                await watcher.reconcile()
                say("synced")
        await watcher.reconcile()
        say("done")
    finally:
        await app.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--crash-at", choices=("recorded", "sending", "answered"))
    parser.add_argument("--final", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
