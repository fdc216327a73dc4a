"""The plans of the apply path's queries and of the board page, on SQLite and PostgreSQL.

A history is bulk-loaded (200,000 proposals and orders; `--quick`: 50,000) and analysed; each
query is explained as the code sends it. A plan of the apply path or the sync that reads a whole
large table (SQLite `SCAN` without an index, PostgreSQL `Seq Scan`) is counted: the figure's
target is none. The board's plans are shown (api_board times them).

    python -m bench.explain_queries [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event

from bench.perf_support import bulk
from bench.perf_support.databases import fresh_database, postgres_available
from bench.perf_support.figures import Figure, emit, note
from ordertrail.domain.report import Execution, OrderReport
from ordertrail.services.views import BoardFilter, proposals_and_orders
from ordertrail.storage.order_rows import LEAN
from ordertrail.storage.uow import SqlUnitOfWork

BIG = ("orders", "proposals", "order_events", "fills", "trades")


def _reports(count: int, total: int) -> list[OrderReport]:
    step = max(total // count, 1)
    return [
        OrderReport(
            broker="tradier",
            account_id="VA000001",
            broker_order_id=str(10_000_000 + n),
            client_order_id=f"ordertrail-{n + 1}-ENTRY-20250102T143000000Z",
            executions=(Execution(f"x{n}", bulk.Decimal(1), bulk.Decimal(1)),),
        )
        for n in range(0, total, step)
    ][:count]


def _executions(count: int, total: int) -> list[tuple[str, str, str]]:
    """Executions a batch names: half of them recorded (see `bulk.load`), half new."""
    step = max(total // count, 1)
    return [
        ("tradier", "VA000001", f"tradier:VA000001:{10_000_000 + n}:{1 + n % 2}")
        for n in range(0, total, step)
    ][:count]


def _captured(connection: Connection, work: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The statements `work` sends (SELECTs only), with their parameters."""
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", keep)
    try:
        work()
    finally:
        event.remove(connection, "before_cursor_execute", keep)
    return seen


def _plan(connection: Connection, statement: str, parameters: Any) -> tuple[list[str], list[str]]:
    """The plan's lines, and the reads in it of a whole large table."""
    if isinstance(parameters, list):  # as the driver took them: a list is positional
        parameters = tuple(parameters)
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        lines = [row[0] for row in rows]
        tree = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        return lines, _pg_full_reads(tree.scalar_one()[0]["Plan"])
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    lines = [row[-1] for row in rows]
    scans = [
        line.strip()
        for line in lines
        for table in BIG
        if line.strip().startswith(f"SCAN {table}") and "INDEX" not in line
    ]
    return lines, scans


def _pg_full_reads(node: dict[str, Any]) -> list[str]:
    """A sequential scan of a large table, or an index scan of one with no index condition
    (the whole table in index order, rows filtered one by one)."""
    found = []
    table = node.get("Relation Name")
    kind = node.get("Node Type", "")
    if table in BIG and (
        kind == "Seq Scan"
        or (kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node)
    ):
        found.append(
            f"{kind} on {table}" + (f" using {node['Index Name']}" if "Index Name" in node else "")
        )
    for child in node.get("Plans", ()):
        found += _pg_full_reads(child)
    return found


def explain(kind: str, size: int) -> int:
    """Print the plans; return how many read a whole large table."""
    with fresh_database(kind) as (_, engine):
        bulk.load(engine, size, fills=True)
        reports = _reports(size // 200, size)  # a batch naming 0.5% of the orders
        uow = SqlUnitOfWork(engine)
        with uow:
            connection = uow.connection  # type: ignore[attr-defined]
            orders = uow.orders
            work: dict[str, Callable[[], Any]] = {
                "apply: find a batch's orders (lean)": lambda: orders.load_for_reports(
                    reports, orders.codec, LEAN
                ),
                "apply: full rows of changing orders": lambda: orders.load_rows(
                    range(1, size, 200), orders.codec
                ),
                "apply: which of a batch's executions are recorded": lambda: (
                    uow.history.recorded_executions(
                        range(1, size, 200), _executions(size // 200, size)
                    )
                ),
                "apply: trades of the batch's orders": lambda: uow.trades.load_many(
                    range(1, size // 3, 200)
                ),
                "sync: working orders of an account (ids)": lambda: orders.working(
                    "tradier", "VA000001"
                ),
                "board: first page": lambda: proposals_and_orders(connection, BoardFilter()),
                "board: page half-way back": lambda: proposals_and_orders(
                    connection, BoardFilter(before=size // 2)
                ),
                "board: one symbol": lambda: proposals_and_orders(
                    connection, BoardFilter(symbol="TSLA")
                ),
            }
            scans = 0
            for label, job in work.items():
                for statement, parameters in _captured(connection, job):
                    plan, reads = _plan(connection, statement, parameters)
                    # The board pages read proposals newest first and stop after 51 rows:
                    # a scan in index order that a limit ends; their timing is what api_board
                    # measures.
                    bad = [] if label.startswith("board") else reads
                    scans += len(bad)
                    shown = " | ".join(line.strip() for line in plan[:6])
                    note(f"{kind} {label}: {shown[:400]}{' <- FULL SCAN' if bad else ''}")
    return scans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    size = 50_000 if args.quick else 200_000
    for kind in ("sqlite", "postgresql"):
        if kind == "postgresql" and not postgres_available():
            note("postgresql: no server; skipped")
            continue
        scans = explain(kind, size)
        emit(Figure(f"explain_full_scans_{kind}", scans, "plans", 0, 0, "=0", scans == 0))


if __name__ == "__main__":
    main()
