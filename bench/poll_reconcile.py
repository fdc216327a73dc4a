"""Poll reconcile: a Tradier list of 10,000 orders none of which changed, against `json.loads`.

What is timed is the production path from the response bodies on: `TradierBroker.list_orders`
(HTTP call, `load_json`, the list cache's comparison with the last list, the parse of what
changed) and `sync_account(..., memo=...)` (working orders read for missing-order detection,
what changed applied through a real `Applier`, the sync state recorded), on SQLite and on
PostgreSQL. The broker's HTTP client is an `httpx.AsyncClient` on an `httpx.MockTransport`
that serves the prepared page bodies (1,000 orders a page, Tradier's limit the adapter asks
for): the network is left out because its time is Tradier's and the wire's, not ours, and
would drown what this measures on a shared machine.

The first poll applies every order and fills the memo; it is not timed (planner statistics
are refreshed after it, as autovacuum would). Repeated identical polls are, the best of TIMES;
the baseline, `json.loads` of the same page bodies, is timed in turn with them so that both
meet the same noise. A note takes the poll apart (fetch and JSON, comparison with the last
list, reconcile) and prices a poll in which about one order in a hundred changed (those
parsed and applied). Statements of the last identical poll are counted with a
`before_cursor_execute` listener, at 1,000 and at 10,000 orders.

    python -m bench.poll_reconcile [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, event
from tests.fakes.tradier.render import to_json

from bench.perf_support.databases import fresh_database, postgres_available, vacuum_analyze
from bench.perf_support.figures import Figure, emit, note
from bench.perf_support.workload import ACCOUNT, START, PlannedOrder, order_view, plan, seed
from ordertrail.brokers.tradier import TradierBroker, TradierConfig
from ordertrail.brokers.tradier.http import TradierHttp
from ordertrail.brokers.tradier.parsing import order_dicts
from ordertrail.clock import FakeClock
from ordertrail.services.applier import Applier
from ordertrail.services.sync import ListMemo, SyncResult, sync_account
from ordertrail.storage.uow import SqlUnitOfWork

WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")
TIMES = 7  # runs of each timing; the best counts (3, and 300 / 3,000 orders, with --quick)
PAGE = 1000  # orders a page (the adapter's default page limit)
CHANGED = 0.01  # share of the orders that change between the polls of the "changed" note
EMPTY = to_json({"orders": "null"}).encode()


@dataclass
class Account:
    """The broker's side: each order's step on its path, and the page bodies the list serves."""

    planned: list[PlannedOrder]
    steps: list[int]
    pages: list[bytes] = field(default_factory=list)
    changes: int = 0
    moved_at: dict[int, datetime] = field(default_factory=dict)  # orders moved on, and when

    def render(self) -> None:
        views = [
            order_view(p, step, self.moved_at.get(index, START))
            for index, (p, step) in enumerate(zip(self.planned, self.steps, strict=True))
        ]
        self.pages = [
            to_json({"orders": {"order": views[start : start + PAGE]}}).encode()
            for start in range(0, len(views), PAGE)
        ]

    def advance(self, share: float, rng: random.Random) -> int:
        """Move a share of the orders one step on (working ones only); say how many moved."""
        working = [i for i, p in enumerate(self.planned) if self.steps[i] < len(p.path) - 1]
        chosen = rng.sample(working, min(len(working), max(1, round(share * len(self.planned)))))
        self.changes += 1
        for index in chosen:
            self.steps[index] += 1
            self.moved_at[index] = START + timedelta(minutes=self.changes)
        self.render()
        return len(chosen)

    def serve(self, request: httpx.Request) -> httpx.Response:
        """Tradier's `GET /accounts/{id}/orders`, one page of the prepared list."""
        page = int(request.url.params.get("page", "1"))
        body = self.pages[page - 1] if page <= len(self.pages) else EMPTY
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


def account(size: int) -> Account:
    """A busy account's list: most orders finished, about one in ten still working."""
    rng = random.Random(5)
    planned = plan(size)
    steps = [len(p.path) - 1 if rng.random() < 0.9 else rng.randrange(len(p.path)) for p in planned]
    prepared = Account(planned, steps)
    prepared.render()
    return prepared


async def _poll(engine: Engine, prepared: Account) -> dict[str, float]:
    """Apply the list once, then time identical polls (statements counted on the last one)
    and their parts, and polls with about one order in a hundred changed."""
    clock = FakeClock(START + timedelta(hours=1))
    config = TradierConfig(access_token="bench", account_id=ACCOUNT, base_url="http://tradier")
    client = httpx.AsyncClient(transport=httpx.MockTransport(prepared.serve))
    broker = TradierBroker(config, http=client, clock=clock)
    fetcher = TradierHttp(config, client, clock=clock, sleep=asyncio.sleep)
    applier = Applier(lambda: SqlUnitOfWork(engine), clock)
    memo = ListMemo()
    texts = [page.decode() for page in prepared.pages]
    statements: list[str] = []

    async def poll() -> SyncResult:
        return await sync_account(broker, applier, lambda: SqlUnitOfWork(engine), clock, memo=memo)

    async def idle_poll() -> None:
        again = await poll()
        assert again.applied.reports == 0 and again.unchanged == len(prepared.planned)

    async def loads() -> None:  # the baseline: every page decoded and held, as one body is
        held = [json.loads(text) for text in texts]
        assert len(held) == len(texts)

    async def fetch() -> None:  # the adapter's page loop without the cache and parse
        page = 1
        while len(order_dicts(await fetcher.list_orders(page, PAGE))) == PAGE:
            page += 1

    async def listing() -> None:  # as a poll after another lists: today's list, no backfill
        await broker.list_orders(clock.now() - timedelta(minutes=1))

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    first = await poll()
    assert first.applied.applied > 0 and len(memo) == len(prepared.planned)
    vacuum_analyze(engine)
    parts = {"loads": loads, "poll": idle_poll, "fetch": fetch, "list": listing}
    runs: dict[str, list[float]] = {name: [] for name in parts}
    for attempt in range(TIMES):  # every part in turn, so that all meet the same noise
        for name, work in parts.items():
            counted = name == "poll" and attempt == TIMES - 1
            if counted:
                event.listen(engine, "before_cursor_execute", count)
            started = time.perf_counter()
            await work()
            runs[name].append(time.perf_counter() - started)
            if counted:
                event.remove(engine, "before_cursor_execute", count)
    changed, moved = await _changed_polls(prepared, poll)
    applier.close()
    await client.aclose()
    # Writes to what the apply path owns; the sync records when it polled (sync_state).
    writes = sum(
        s.lstrip().split()[0].upper() in WRITES and "sync_state" not in s for s in statements
    )
    best = {name: min(times) for name, times in runs.items()}
    return best | {
        "changed": changed,
        "moved": moved,
        "statements": len(statements),
        "writes": writes,
    }


async def _changed_polls(
    prepared: Account, poll: Callable[[], Awaitable[SyncResult]]
) -> tuple[float, int]:
    """Time polls after about one order in a hundred moved on; the best, and how many moved
    before it."""
    rng = random.Random(13)
    runs = []
    for _ in range(TIMES):
        moved = prepared.advance(CHANGED, rng)
        started = time.perf_counter()
        result = await poll()
        runs.append((time.perf_counter() - started, moved))
        assert result.applied.applied == moved, (result.applied.applied, moved)
    return min(runs)


def measure(kind: str, size: int) -> dict[str, float]:
    """Time json.loads of the list's pages and the polls of it; count statements."""
    prepared = account(size)
    size_of = {"bytes": sum(map(len, prepared.pages)), "pages": len(prepared.pages)}
    with fresh_database(kind) as (_, engine):
        seed(engine, prepared.planned)
        return asyncio.run(_poll(engine, prepared)) | size_of


def report(kind: str, small: int, large: int) -> None:
    """Print the figures for one database."""
    a, b = measure(kind, small), measure(kind, large)
    ms = 1000.0
    note(
        f"{kind}: list of {large} orders ({b['bytes'] / 1e6:.1f} MB in {b['pages']:.0f} pages): "
        f"json.loads {b['loads'] * ms:.1f} ms; an unchanged poll {b['poll'] * ms:.1f} ms = "
        f"fetch and load_json {b['fetch'] * ms:.1f} + comparison with the last list "
        f"{(b['list'] - b['fetch']) * ms:.1f} + reconcile {(b['poll'] - b['list']) * ms:.1f} "
        f"({b['statements']:.0f} statements, {b['writes']:.0f} writes but the sync state's); "
        f"at {small} orders: {a['poll'] * ms:.1f} ms, {a['statements']:.0f} statements"
    )
    note(
        f"{kind}: a poll with {b['moved']:.0f} of {large} orders changed (parsed and applied): "
        f"{b['changed'] * ms:.1f} ms ({b['changed'] / b['loads']:.1f}x json.loads); "
        f"{a['moved']:.0f} of {small}: {a['changed'] * ms:.1f} ms"
    )
    ratio = b["poll"] / b["loads"]
    emit(
        Figure(
            f"poll_reconcile_{kind}",
            b["poll"] * ms,
            "ms",
            b["loads"] * ms,
            ratio,
            "ratio<=3",
            ratio <= 3.0,
        )
    )
    same = b["statements"] == a["statements"] and b["writes"] == 0
    emit(
        Figure(
            f"poll_statements_{kind}",
            b["statements"],
            "statements",
            a["statements"],
            b["statements"] / a["statements"],
            f"same_at_{small}_and_{large}",
            same,
        )
    )
    per_order = (b["poll"] / large) / (a["poll"] / small)
    emit(
        Figure(
            f"poll_reconcile_{kind}_10x_cost_per_order",
            b["poll"] / large * 1e6,
            "us",
            a["poll"] / small * 1e6,
            per_order,
            "ratio<=1.25",
            per_order <= 1.25,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    global TIMES
    small, large = 1_000, 10_000
    if parser.parse_args().quick:
        TIMES, small, large = 3, 300, 3_000
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and not postgres_available():
            note("postgresql: no server (run through `make bench`, which starts it); skipped")
            continue
        report(kind, small, large)


if __name__ == "__main__":
    main()
