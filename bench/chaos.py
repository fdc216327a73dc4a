"""Chaos run: N orders through a fake broker with faults injected, then convergence checked.

    python bench/chaos.py --orders 10000 [--broker tradier|ibkr|paper] [--database URL]

The real app (bootstrap, placer, watcher streaming and polling, the one apply path) trades on a
fake broker server started in this process. A chaos proxy between adapter and server (in-process
faults for the paper broker) duplicates 10% of stream messages, holds 10% back behind the next
one, drops 5%, garbles 1%, answers 5% of REST calls with 429/5xx (writes: after the broker took
them, so the outcome is unknown), serves 1% of reads a web page, and cuts every stream every 30 s.
Meanwhile the market fills orders (in parts, whole, after a cancel), ordertrail cancels some,
the broker cancels or expires others. Then the faults stop and the run checks that within two
poll cycles every order equals the broker's truth, and prints one line:

    chaos: orders=N faults=F lost_fills=0 double_counted=0 regressions=0 mismatched=0 converged_s=S

It exits 1 if any count is not 0 or the orders did not converge within two poll cycles.
`mismatched` counts orders whose status or filled quantity differs from the broker's, broker
orders without a local order, local orders the broker does not have, client order ids placed
twice, and placements that never reached the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.support.audit import Audit, audit  # noqa: E402

from bench.chaos_support.markets import Market, PaperMarket, make_market  # noqa: E402
from bench.chaos_support.proxy import Rates  # noqa: E402
from ordertrail.bootstrap import App, bootstrap  # noqa: E402
from ordertrail.domain.proposal import ProposalKind  # noqa: E402
from ordertrail.errors import InvalidRequest, OrdertrailError  # noqa: E402
from ordertrail.services.proposals import NewProposal, create_proposal  # noqa: E402
from ordertrail.settings import Settings  # noqa: E402

log = logging.getLogger("chaos")
D = Decimal


@dataclass
class Plan:
    """What the market does to one order, step by step."""

    proposal_id: int
    broker_id: str
    steps: list[str]
    retries: int = 0


@dataclass
class Result:
    orders: int
    faults: int
    audit: Audit
    converged_s: float | None
    fault_kinds: dict[str, int] = field(default_factory=dict)
    stale_words: int = 0  # orders whose raw broker status word lags (status and fills agree)

    @property
    def mismatched(self) -> int:
        a = self.audit
        return a.mismatched + a.orphans + a.phantoms + a.placed_twice + a.unplaced

    @property
    def ok(self) -> bool:
        a = self.audit
        counts = (a.lost_fills, a.double_counted, a.regressions, self.mismatched)
        return self.converged_s is not None and not any(counts)

    def line(self) -> str:
        a = self.audit
        converged = "never" if self.converged_s is None else f"{self.converged_s:.1f}"
        return (
            f"chaos: orders={self.orders} faults={self.faults} lost_fills={a.lost_fills} "
            f"double_counted={a.double_counted} regressions={a.regressions} "
            f"mismatched={self.mismatched} converged_s={converged}"
        )


PLANS: list[tuple[float, list[str]]] = [
    (0.30, ["fill_all"]),
    (0.15, ["fill", "fill_all"]),
    (0.15, ["fill", "cancel"]),  # partial fills, then ordertrail cancels
    (0.08, ["cancel", "late_fill"]),  # the cancel races a fill that wins
    (0.06, ["fill", "cancel_by_hand"]),
    (0.06, ["expire"]),
    (0.05, ["fill", "expire"]),
    (0.15, ["fill"]),  # left working, partly filled
]


def draw_plan(rng: random.Random) -> list[str]:
    roll = rng.random()
    for share, steps in PLANS:
        if roll < share:
            return list(steps)
        roll -= share
    return []


class Run:
    """One chaos run: the app on the market, the placing, the market's moves, the check."""

    def __init__(self, options: argparse.Namespace, database_url: str) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.rates = Rates() if not options.calm else Rates.none()
        self.market: Market = make_market(options.broker, self.rates, options.seed)
        broker = self.market.start()
        self.key = f"{broker.name}:{broker.account_id}"
        settings = Settings(
            database_url=database_url,
            poll_interval_active=options.poll,
            poll_interval_idle=options.poll,
        )
        self.app: App = bootstrap(settings, brokers={self.key: broker})
        self.active: list[Plan] = []
        self.placing_done = False
        self.placed = 0
        self.unplaced = 0
        self.polls: list[float] = []
        self.stale_words = 0

    async def execute(self) -> Result:
        watcher = self.app.watchers[self.key]
        original = watcher.reconcile

        async def counted() -> Any:
            result = await original()
            if result is not None:
                self.polls.append(time.monotonic())
            return result

        watcher.reconcile = counted  # type: ignore[method-assign]  # count completed polls
        watching = asyncio.create_task(watcher.run())
        cutting = asyncio.create_task(self._cut_every(self.options.disconnect_every))
        reporting = asyncio.create_task(self._report_every(5.0))
        try:
            await asyncio.gather(self._place_all(), self._trade())
            self.market.calm()
            cutting.cancel()
            converged_s = await self._converge()
            found = await self._audit()
            worded = await self._audit(words=True)
            self.stale_words = worded.mismatched - found.mismatched
        finally:
            for task in (watching, cutting, reporting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.app.aclose()
            self.market.stop()
        kinds = dict(self.market.faults())
        result = Result(self.options.orders, sum(kinds.values()), found, converged_s, kinds)
        result.stale_words = self.stale_words
        return result

    async def _place_all(self) -> None:
        gate = asyncio.Semaphore(self.options.concurrency)

        async def one(n: int) -> None:
            async with gate:
                await self._place(n)

        await asyncio.gather(*(one(n) for n in range(self.options.orders)))
        self.placing_done = True

    async def _place(self, n: int) -> None:
        request = NewProposal(
            kind=ProposalKind.ENTRY,
            broker=self.market.name,
            account_id=self.market.account_id,
            instrument=self.market.instrument(),
            quantity=D(self.rng.randint(1, 10)),
            order_type="limit",
            limit_price=D("10.00"),
        )
        proposal = await self.app.applier.run(
            lambda: create_proposal(self.app.uow(), request, self.app.clock)
        )
        try:
            order = await self.app.placer.submit(proposal.id)
        except OrdertrailError as error:
            log.warning("submit %s failed: %s", proposal.id, error)
            self.unplaced += 1
            return
        assert order.client_order_id is not None
        broker_id = order.state.broker_order_id or self.market.find(order.client_order_id)
        self.placed += 1
        if broker_id is None:
            self.unplaced += 1  # never reached the broker (the audit counts it too)
            return
        steps = draw_plan(self.rng)
        if steps:
            self.active.append(Plan(proposal.id, broker_id, steps))

    async def _trade(self) -> None:
        """Move one random order one step at a time until every plan is played."""
        while not self.placing_done or self.active:
            if not self.active:
                await asyncio.sleep(0.01)
                continue
            plan = self.active[self.rng.randrange(len(self.active))]
            step = plan.steps[0]
            if await self._step(plan, step):
                plan.steps.pop(0)
            if not plan.steps or plan.retries > 50:
                self.active.remove(plan)
            await asyncio.sleep(self.options.pause)

    async def _step(self, plan: Plan, step: str) -> bool:
        """Play one step; False to try it again later."""
        market, broker_id = self.market, plan.broker_id
        left = market.unfilled(broker_id)
        price = D(self.rng.randint(1000, 1020)) / 100
        if step == "fill" and left > 1:
            market.fill(broker_id, D(self.rng.randint(1, int(left) - 1)), price)
        elif step in ("fill_all", "late_fill") and left > 0:
            market.fill(broker_id, left, price)
        elif step == "cancel_by_hand":
            market.cancel_by_hand(broker_id)
        elif step == "expire":
            market.expire(broker_id)
        elif step == "cancel":
            return await self._cancel(plan)
        return True

    async def _cancel(self, plan: Plan) -> bool:
        try:
            await self.app.placer.cancel(plan.proposal_id)
        except InvalidRequest as error:
            if "has not answered" in str(error):  # a lost answer: not found by a sync yet
                plan.retries += 1
                return False
        except OrdertrailError as error:
            log.info("cancel of %s: %s", plan.proposal_id, error)
        if isinstance(self.market, PaperMarket):
            self.market.confirm_cancels()
        return True

    async def _cut_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            log.info("cutting %s stream connection(s)", self.market.cut_streams())

    async def _report_every(self, seconds: float) -> None:
        started = time.monotonic()
        stats = self.app.stats.account(self.market.name, self.market.account_id)
        while True:
            await asyncio.sleep(seconds)
            log.info(
                "%4.0fs placed=%d playing=%d faults=%d polls=%d reconnects=%d subscribed=%s %s",
                time.monotonic() - started,
                self.placed,
                len(self.active),
                sum(self.market.faults().values()),
                len(self.polls),
                stats.reconnects,
                stats.subscribed,
                stats.last_error or "",
            )

    async def _audit(self, words: bool = False) -> Audit:
        """Audit canonical status and filled quantity (with `words`, the raw status too)."""
        truth = self.market.truth()
        if not words:
            truth = [replace(order, word=None) for order in truth]
        return await asyncio.to_thread(
            audit, self.app.engine, self.market.name, self.market.account_id, truth
        )

    async def _converge(self) -> float | None:
        """Seconds from the faults' end until every order equals the broker's truth, or None
        when two poll cycles that started after it were not enough."""
        calm = time.monotonic()
        deadline = calm + max(120.0, 20 * self.options.poll)
        while time.monotonic() < deadline:
            polls_before = len([t for t in self.polls if t > calm])
            found = await self._audit()
            if found.clean and not found.unplaced:
                return time.monotonic() - calm
            if polls_before >= 2:
                log.warning("not converged after two poll cycles:\n  %s", found)
                return None
            await asyncio.sleep(0.2)
        return None


@contextlib.contextmanager
def database(url: str | None, keep: bool) -> Iterator[str]:
    """A fresh database: a SQLite file in a temporary directory, or a new PostgreSQL database
    on the server `url` names (dropped afterwards unless `keep`)."""
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="ordertrail-chaos-") as folder:
            yield url or f"sqlite:///{folder}/chaos.db"
        return
    given = make_url(url)
    name = f"{given.database}_chaos_{os.getpid()}"
    admin = create_engine(given.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield given.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ordertrail chaos run against a fake broker")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--broker", choices=("tradier", "ibkr", "paper"), default="tradier")
    parser.add_argument("--database", help="PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval (s)")
    parser.add_argument("--disconnect-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="placements in flight")
    parser.add_argument("--pause", type=float, default=0.01, help="seconds between market moves")
    parser.add_argument("--calm", action="store_true", help="no faults (a baseline)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--verbose", "-v", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    logging.basicConfig(
        level=logging.INFO if options.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if options.verbose:
        for noisy in ("alembic", "httpx", "ordertrail", "uvicorn", "websockets"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    with database(options.database, options.keep) as url:
        result = asyncio.run(Run(options, str(url)).execute())
    print(result.line(), flush=True)
    if not result.ok or options.verbose:
        print(f"faults by kind: {result.fault_kinds}", file=sys.stderr)
        print(f"audit: {result.audit}", file=sys.stderr)
        print(f"raw broker status lagging: {result.stale_words} order(s)", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
