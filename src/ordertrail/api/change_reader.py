"""Reading committed changes back as event JSON: the rows a batch touched, by id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table

from ordertrail.services.listings import alert_json, trade_json
from ordertrail.services.queries import ORDER_JSON_COLUMNS, order_json
from ordertrail.services.views import proposal_rows
from ordertrail.storage import driver
from ordertrail.storage.tables import alerts, orders, trades
from ordertrail.storage.types import Codec, row_decoder


class ChangeSet(Protocol):
    """The ids a committed batch touched, whichever process committed it."""

    @property
    def order_ids(self) -> frozenset[int]: ...
    @property
    def trade_ids(self) -> frozenset[int]: ...
    @property
    def alert_ids(self) -> frozenset[int]: ...
    @property
    def proposal_ids(self) -> frozenset[int]: ...


Columns = tuple[str, ...] | None  # None: every column of the table

INLINE_ROWS = 32  # at most this many rows are read inside the writer's transaction


def load_changes(connection: Connection, changed: ChangeSet) -> list[tuple[str, Any]]:
    """Read what a batch touched, as (event kind, JSON) pairs: orders, then trades, then alerts
    (one query each, straight through the driver: a stream message's read is the hot path),
    then proposals as the board shows them (written beside the apply path: submit, cancel)."""
    events: list[tuple[str, Any]] = []
    codec = Codec(connection.dialect.name)
    readers: tuple[tuple[frozenset[int], str, Table, Columns, Callable[[Any], Any]], ...] = (
        (changed.order_ids, "order", orders, ORDER_JSON_COLUMNS, order_json),
        (changed.trade_ids, "trade", trades, None, trade_json),
        (changed.alert_ids, "alert", alerts, None, alert_json),
    )
    for ids, kind, table, columns, render in readers:
        if ids:
            names = columns or tuple(column.name for column in table.columns)
            sql = codec.select(table, names, f"id {codec.in_list('bigint')} ORDER BY id")
            decode = row_decoder(table, columns)
            rows = driver.rows(connection, sql, (codec.list_param(sorted(ids)),))
            events.extend((kind, render(decode(row))) for row in rows)
    if changed.proposal_ids:
        events.extend(("proposal", row) for row in proposal_rows(connection, changed.proposal_ids))
    return events


def size(changed: ChangeSet) -> int:
    """How many rows a change set names."""
    return (
        len(changed.order_ids)
        + len(changed.trade_ids)
        + len(changed.alert_ids)
        + len(changed.proposal_ids)
    )


class ChangeReader:
    """Read changes back for one fan-out loop, in a worker thread on a pooled connection, so
    the loop never waits on the database: another process's batches (PostgreSQL) and large
    batches of this one's (small ones are read inside their own transaction, see
    `EventHub.read_in_transaction`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def read(self, changed: ChangeSet) -> list[tuple[str, Any]]:
        """The events for `changed`, as committed now."""
        return await asyncio.to_thread(self._read, changed)

    def close(self) -> None:
        """Nothing is held between reads."""

    def _read(self, changed: ChangeSet) -> list[tuple[str, Any]]:
        with self.engine.connect() as connection:
            return load_changes(connection, changed)
