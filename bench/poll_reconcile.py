"""Poll reconcile: a Tradier list of 10,000 orders none of which changed, against `json.loads`.

The account's orders are applied once from the list; then the same list is reconciled again
through `sync_account` (working orders read, the applier's writer thread, the sync state
recorded) with a broker whose list call returns the already parsed reports. The baseline is
`json.loads` of the list's body. The figure is the whole handling of the response: the parse
(`load_json` + `parse_orders_list`, the Tradier adapter's part) plus the reconcile, each also
shown apart.
Statements are counted with a `before_cursor_execute` listener, at 1,000 and at 10,000 orders.

    python -m bench.poll_reconcile [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event
from tests.fakes.tradier.render import to_json

from bench.perf_support.databases import fresh_database, postgres_available
from bench.perf_support.figures import Figure, emit, note
from bench.perf_support.workload import ACCOUNT, START, order_view, plan, seed
from ordertrail.brokers.tradier.parsing import load_json, parse_orders_list
from ordertrail.clock import FakeClock
from ordertrail.domain.report import OrderReport
from ordertrail.services.applier import Applier
from ordertrail.services.sync import sync_account
from ordertrail.storage.uow import SqlUnitOfWork

WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")
TIMES = 5  # runs of each timing; the best counts (3 with --quick)


class ListedBroker:
    """A broker whose list answer is already parsed: only the reconcile is timed."""

    name = "tradier"
    account_id = ACCOUNT

    def __init__(self, reports: list[OrderReport]) -> None:
        self.reports = reports

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        return self.reports

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        return None


@functools.cache
def list_body(size: int) -> tuple[Any, str]:
    """A busy account's list: most orders finished, about one in ten still working."""
    rng = random.Random(5)
    planned = plan(size)
    views = []
    for p in planned:
        step = len(p.path) - 1 if rng.random() < 0.9 else rng.randrange(len(p.path))
        views.append(order_view(p, step, START))
    return planned, to_json({"orders": {"order": views}})


def _best(work: Any) -> float:
    runs = []
    for _ in range(TIMES):
        started = time.perf_counter()
        work()
        runs.append(time.perf_counter() - started)
    return min(runs)


async def _reconcile(engine: Engine, reports: list[OrderReport]) -> tuple[float, int, int]:
    """Apply the list once, then time reconciling it again; count that second run's statements."""
    clock = FakeClock()
    applier = Applier(lambda: SqlUnitOfWork(engine), clock)
    broker = ListedBroker(reports)
    first = await sync_account(broker, applier, lambda: SqlUnitOfWork(engine), clock)  # type: ignore[arg-type]
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    runs = []
    for attempt in range(TIMES):
        if attempt == TIMES - 1:
            event.listen(engine, "before_cursor_execute", count)
        started = time.perf_counter()
        again = await sync_account(broker, applier, lambda: SqlUnitOfWork(engine), clock)  # type: ignore[arg-type]
        runs.append(time.perf_counter() - started)
        assert again.applied.applied == 0, "a repeated list changed something"
    event.remove(engine, "before_cursor_execute", count)
    applier.close()
    # Writes to what the apply path owns; the sync records when it polled (sync_state).
    writes = sum(
        s.lstrip().split()[0].upper() in WRITES and "sync_state" not in s for s in statements
    )
    assert first.applied.applied > 0
    return min(runs), len(statements), writes


def measure(kind: str, size: int) -> dict[str, float]:
    """Time json.loads, the parse and the reconcile of one list; count statements."""
    planned, body = list_body(size)
    loads = _best(lambda: json.loads(body))
    parse = _best(lambda: parse_orders_list(load_json(body), ACCOUNT))
    reports = parse_orders_list(load_json(body), ACCOUNT)
    with fresh_database(kind) as (_, engine):
        seed(engine, planned)
        reconcile, statements, writes = asyncio.run(_reconcile(engine, reports))
    return {
        "loads": loads,
        "parse": parse,
        "reconcile": reconcile,
        "statements": statements,
        "writes": writes,
        "bytes": len(body),
    }


def report(kind: str, small: int, large: int) -> None:
    """Print the figures for one database."""
    a, b = measure(kind, small), measure(kind, large)
    ms = 1000.0
    total = b["parse"] + b["reconcile"]
    note(
        f"{kind}: list of {large} orders ({b['bytes'] / 1e6:.1f} MB): json.loads "
        f"{b['loads'] * ms:.1f} ms, load_json + parse_orders_list {b['parse'] * ms:.1f} ms "
        f"({b['parse'] / b['loads']:.1f}x json.loads, the Tradier adapter's part), reconcile "
        f"{b['reconcile'] * ms:.1f} ms in {b['statements']:.0f} statements ({b['writes']:.0f} "
        f"writes but the sync state's); at {small} orders: {a['reconcile'] * ms:.1f} ms, "
        f"{a['statements']:.0f} statements; parse + reconcile {total * ms:.1f} ms"
    )
    ratio = total / b["loads"]
    emit(
        Figure(
            f"poll_reconcile_{kind}",
            total * ms,
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
    per_order = ((b["parse"] + b["reconcile"]) / large) / ((a["parse"] + a["reconcile"]) / small)
    emit(
        Figure(
            f"poll_reconcile_{kind}_10x_cost_per_order",
            (b["parse"] + b["reconcile"]) / large * 1e6,
            "us",
            (a["parse"] + a["reconcile"]) / small * 1e6,
            per_order,
            "ratio<=1.25",
            per_order <= 1.25,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    global TIMES
    if parser.parse_args().quick:
        TIMES = 3
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and not postgres_available():
            note("postgresql: no server (run through `make bench`, which starts it); skipped")
            continue
        report(kind, 1_000, 10_000)


if __name__ == "__main__":
    main()
