"""Bulk-load a large history (proposals, their orders, trades) straight into a database.

Rows go in as the column types would write them (SQLite: executemany in 50,000-row
transactions; PostgreSQL: COPY), after the migrations made the schema and its indexes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from bench.perf_support.workload import ROOTS
from ordertrail.storage.tables import fills as fills_table
from ordertrail.storage.tables import orders, proposals, trades

CHUNK = 50_000
T0 = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
_DONE = ("FILLED", "FILLED", "FILLED", "CANCELLED", "FILLED", "CANCELLED", "FILLED", "REJECTED")
_WORKING = ("PLACED", "PARTIAL", "PLACED", "FILLED")  # the newest orders: some still working


def _when(n: int) -> datetime:
    return T0 + timedelta(seconds=n * 7)


def _instrument(n: int) -> str:
    root = ROOTS[n % len(ROOTS)]
    strike = 50 + n % 300
    right = "C" if n % 3 else "P"
    return json.dumps(
        {
            "symbol": root,
            "sec_type": "OPT",
            "option_symbol": f"{root}250321{right}{strike * 1000:08d}",
            "strike": str(strike),
            "right": right,
            "expiry": "2025-03-21",
            "contract_id": None,
            "multiplier": "100",
        },
        separators=(",", ":"),
    )


def _rows(
    n: int, total: int, fills: bool
) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...] | None]:
    """Proposal, order and (one order in three) trade number `n` (ids are n + 1); orders are
    finished but for the newest 1 in 200, of which most still work."""
    pid = n + 1
    kind = "EXIT" if n % 4 == 3 else "ENTRY"
    recent = n >= total - max(total // 200, 1)
    status = _WORKING[n % len(_WORKING)] if recent else _DONE[n % len(_DONE)]
    root = ROOTS[n % len(ROOTS)]
    instrument = _instrument(n)
    at = _when(n)
    quantity = Decimal(1 + n % 10)
    filled = quantity if status == "FILLED" else (quantity / 2 if status == "PARTIAL" else 0)
    price = Decimal(100 + n % 500) / 100
    tag = f"ordertrail-{pid}-{kind}-20250102T143000000Z"
    trade_id = n // 3 + 1 if n % 3 == 0 else None
    proposal = (
        pid, kind, status if status != "PLACED" else "WORKING", "tradier", "VA000001", root,
        instrument, "[]", "buy_to_open", quantity, "limit", price, "day", None, tag, None, at, at,
    )  # fmt: skip
    order = (
        pid, "tradier", "VA000001", str(10_000_000 + n), tag, pid, trade_id, kind, "sent",
        False, status, status.lower(), root, None, instrument, "buy_to_open", "limit", quantity,
        filled, quantity - filled, price if filled else None, price, None, "[]", None, 4, at,
        None, at, at, filled if fills else 0, filled * price if fills else 0,
    )  # fmt: skip
    trade = None
    if trade_id is not None:
        trade = (
            trade_id, "OPEN", "tradier", "VA000001", root, instrument, "LONG", quantity, price,
            Decimal(0), None, None, at, None, str(10_000_000 + n), None, at, at,
        )  # fmt: skip
    return proposal, order, trade


COLUMNS = {
    "proposals": [c.name for c in proposals.columns],
    "orders": [c.name for c in orders.columns],
    "trades": [c.name for c in trades.columns],
    "fills": [c.name for c in fills_table.columns],
}
TABLES = ("trades", "proposals", "orders", "fills")  # parents first
_UPDATED_AT = COLUMNS["orders"].index("updated_at")


def _chunks(total: int, fills: bool) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    for start in range(0, total, CHUNK):
        batch: dict[str, list[tuple[Any, ...]]] = {
            "proposals": [], "orders": [], "trades": [], "fills": []
        }  # fmt: skip
        for n in range(start, min(start + CHUNK, total)):
            proposal, order, trade = _rows(n, total, fills)
            batch["proposals"].append(proposal)
            batch["orders"].append(order)
            if trade is not None:
                batch["trades"].append(trade)
            if fills and order[18]:  # filled_quantity
                at = order[_UPDATED_AT]
                batch["fills"].append(
                    (n + 1, n + 1, "tradier", "VA000001", f"tradier:VA000001:{order[3]}:1",
                     order[18], order[21], True, at, at)
                )  # fmt: skip
        yield batch


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def load(engine: Engine, total: int, fills: bool = False) -> None:
    """Write `total` proposals with their orders (and a trade for one in three; with `fills`,
    a fill for every order that filled)."""
    if engine.dialect.name == "sqlite":
        _load_sqlite(engine, total, fills)
    else:
        _load_postgres(engine, total, fills)


def _load_sqlite(engine: Engine, total: int, fills: bool) -> None:
    path = engine.url.database
    assert path is not None
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA foreign_keys=OFF")
    for batch in _chunks(total, fills):
        connection.execute("BEGIN")
        for table in TABLES:
            names = COLUMNS[table]
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608
            rows = [tuple(_sqlite_value(v) for v in row) for row in batch[table]]
            connection.executemany(sql, rows)
        connection.execute("COMMIT")
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _load_postgres(engine: Engine, total: int, fills: bool) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for batch in _chunks(total, fills):
            for table in TABLES:
                names = ", ".join(COLUMNS[table])
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in batch[table]:
                        copy.write_row(row)
            raw.commit()
        for table in TABLES:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
