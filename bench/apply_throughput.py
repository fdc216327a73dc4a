"""Apply throughput: realistic broker reports through the real apply path, against raw inserts.

The baseline is the physical limit of the same database on the same machine: the very event
rows the apply path wrote, inserted again with one `executemany` per batch (same batches, same
commits) into a table shaped like `order_events` (same columns, unique key and foreign key).
Both write on one writer thread with the write-ahead log checkpointed between its
transactions, as `serve` does while its watchers write (on SQLite; PostgreSQL checkpoints by
itself), and with what the process holds before each run (the whole day's reports, parsed)
frozen out of the garbage collector's full passes, as `serve` freezes what its startup built.

    python -m bench.apply_throughput [--quick] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, text

from bench.perf_support.databases import fresh_database, postgres_available
from bench.perf_support.figures import Figure, best_of, emit, frozen_heap, note, stopwatch
from bench.perf_support.workload import build, seed
from ordertrail.bootstrap import SERVE_CHECKPOINT_S
from ordertrail.clock import FakeClock
from ordertrail.domain.report import OrderReport
from ordertrail.services.applier import Applier
from ordertrail.services.apply import ApplyResult, apply_reports
from ordertrail.storage.checkpoint import wal_checkpoints
from ordertrail.storage.history import EVENT_COLUMNS
from ordertrail.storage.uow import SqlUnitOfWork

BATCH = 1000
TARGETS = {"sqlite": (50_000.0, 0.15), "postgresql": (20_000.0, 0.30)}


@dataclass(frozen=True)
class Run:
    """One measured run: seconds for the apply path and for the raw inserts of its events."""

    reports: int
    events: int
    apply_s: float
    raw_s: float
    result: ApplyResult


@contextmanager
def writer(engine: Engine) -> Iterator[Applier]:
    """The writer thread `serve` writes through, checkpointing as it does meanwhile."""
    applier = Applier(lambda: SqlUnitOfWork(engine), FakeClock())
    try:
        with wal_checkpoints(engine, SERVE_CHECKPOINT_S, applier.call):
            yield applier
    finally:
        applier.close()


def _apply(engine: Engine, reports: list[OrderReport]) -> tuple[float, list[int], ApplyResult]:
    clock = FakeClock()
    total = ApplyResult()
    per_batch: list[int] = []
    with writer(engine) as thread, stopwatch() as took:
        for start in range(0, len(reports), BATCH):
            batch = reports[start : start + BATCH]
            result = thread.call(lambda b=batch: apply_reports(SqlUnitOfWork(engine), b, clock))
            per_batch.append(result.events)
            total.merge(result)
    return took[0], per_batch, total


def _raw_table(engine: Engine) -> None:
    """A table shaped like order_events (columns, unique key, foreign key), empty."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE TABLE bench_raw_events (LIKE order_events INCLUDING ALL)"
            )
            connection.exec_driver_sql(
                "ALTER TABLE bench_raw_events ADD FOREIGN KEY (order_id) REFERENCES orders (id)"
            )
            return
        ddl = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'order_events'"
        ).scalar_one()
        ddl = ddl.replace("order_events", "bench_raw_events", 1)
        connection.exec_driver_sql(ddl.replace("uq_order_events", "uq_bench_raw_events"))


def _raw(engine: Engine, first_event: int, per_batch: list[int]) -> float:
    """Insert the events the apply path wrote again, batch for batch: the physical limit."""
    columns = ", ".join(EVENT_COLUMNS)
    with engine.connect() as connection:  # driver-native values, exactly as stored
        rows = [
            tuple(row)
            for row in connection.exec_driver_sql(
                f"SELECT {columns} FROM order_events WHERE id > {first_event} ORDER BY id"  # noqa: S608
            )
        ]
    _raw_table(engine)
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    marks = ", ".join([mark] * len(EVENT_COLUMNS))
    insert = f"INSERT INTO bench_raw_events ({columns}) VALUES ({marks})"  # noqa: S608

    def write(batch: list[tuple[Any, ...]]) -> None:
        with engine.begin() as connection:
            if batch:
                connection.exec_driver_sql(insert, batch)

    with writer(engine) as thread, stopwatch() as took:
        start = 0
        for count in per_batch:
            thread.call(lambda b=rows[start : start + count]: write(b))
            start += count
    return took[0]


def breakdown(kind: str, size: int) -> None:
    """One more run with the database's own time taken apart: each kind of statement (timed
    around the driver call) and the commits; the rest is the apply path's Python."""
    planned, reports = build(size)
    spent: defaultdict[str, float] = defaultdict(float)
    with fresh_database(kind) as (_, engine):
        seed(engine, planned)

        def before(conn: Any, *_: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            words = statement.split()
            what = " ".join(words[:3]).replace('"', "") if words[0] != "SELECT" else "SELECT"
            spent[what] += time.perf_counter() - conn.info["bench_started"]

        class TimedCommits(SqlUnitOfWork):
            def commit(self) -> None:
                started = time.perf_counter()
                super().commit()
                spent["COMMIT"] += time.perf_counter() - started

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        clock = FakeClock()
        with frozen_heap(), writer(engine) as thread, stopwatch() as took:
            for start in range(0, len(reports), BATCH):
                batch = reports[start : start + BATCH]
                thread.call(lambda b=batch: apply_reports(TimedCommits(engine), b, clock))
    statements = sum(v for k, v in spent.items() if k != "COMMIT")
    biggest = sorted(((v, k) for k, v in spent.items() if k != "COMMIT"), reverse=True)[:6]
    parts = ", ".join(f"{k} {v:.2f}" for v, k in biggest)
    database = statements + spent["COMMIT"]
    python = took[0] - database
    note(
        f"{kind}: where {len(reports)} reports' {took[0]:.2f} s went: statements "
        f"{statements:.2f} s ({parts}), commits {spent['COMMIT']:.2f} s, the apply path's "
        f"Python {python:.2f} s ({python / len(reports) * 1e6:.0f} us a report); the database's "
        f"part alone allows at most {len(reports) / database:.0f} reports/s"
    )


def measure(kind: str, size: int) -> Run:
    """Seed a fresh database, apply the reports, then insert their events raw."""
    planned, reports = build(size)
    with fresh_database(kind) as (_, engine):
        seed(engine, planned)
        with engine.connect() as connection:
            first_event = connection.execute(text("SELECT max(id) FROM order_events")).scalar()
        with frozen_heap():
            apply_s, per_batch, result = _apply(engine, reports)
        with frozen_heap():
            raw_s = _raw(engine, int(first_event or 0), per_batch)
    return Run(len(reports), result.events, apply_s, raw_s, result)


def best(kind: str, size: int, repeats: int) -> Run:
    """The least disturbed of a few runs (apply and raw each at their best)."""
    runs = [measure(kind, size) for _ in range(repeats)]
    first = runs[0]
    return Run(
        first.reports,
        first.events,
        best_of([r.apply_s for r in runs]),
        best_of([r.raw_s for r in runs]),
        first.result,
    )


def report(kind: str, size: int, repeats: int) -> list[Figure]:
    """Measure at `size` orders and at a tenth of it; print the figures."""
    small = best(kind, max(size // 10, 50), repeats)
    run = best(kind, size, repeats)
    rate = run.reports / run.apply_s
    raw_rate = run.reports / run.raw_s
    floor, share = TARGETS[kind]
    r = run.result
    note(
        f"{kind}: {size} orders, {run.reports} reports in batches of {BATCH} "
        f"({r.applied} changed, {r.unchanged} unchanged, {r.stale} stale; {run.events} events, "
        f"{r.fills} fills, {r.orders_created} adopted, {len(r.trade_ids)} trades, "
        f"{r.alerts_updated} alert updates): apply {run.apply_s:.2f} s, "
        f"raw inserts of its events {run.raw_s:.2f} s ({run.events / run.raw_s:.0f} rows/s)"
    )
    per_report_small = small.apply_s / small.reports
    per_report = run.apply_s / run.reports
    return [
        emit(
            Figure(
                f"apply_{kind}",
                rate,
                "reports/s",
                raw_rate,
                rate / raw_rate,
                f">={floor:.0f}&ratio>={share}",
                rate >= floor and rate / raw_rate >= share,
            )
        ),
        emit(
            Figure(
                f"apply_{kind}_10x_cost_per_report",
                per_report * 1e6,
                "us",
                per_report_small * 1e6,
                per_report / per_report_small,
                "ratio<=1.25",
                per_report / per_report_small <= 1.25,
            )
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=sorted(TARGETS))
    args = parser.parse_args()
    size, repeats = (2_000, 1) if args.quick else (20_000, 2)
    for kind in TARGETS:
        if args.only and kind != args.only:
            continue
        if kind == "postgresql" and not postgres_available():
            note("postgresql: no server (run through `make bench`, which starts it); skipped")
            continue
        report(kind, size, repeats)
        breakdown(kind, size)


if __name__ == "__main__":
    main()
