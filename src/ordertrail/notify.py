"""Change notices across processes: PostgreSQL NOTIFY after each committed batch, LISTEN in
every API process, so live pages see what any worker applied."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from ordertrail.services.apply import ApplyResult
from ordertrail.services.changes import Changed

log = logging.getLogger(__name__)
CHANNEL = "ordertrail_changes"
_MAX_PAYLOAD = 7000  # PostgreSQL refuses notification payloads from 8000 bytes


@dataclass(frozen=True)
class ChangeNotice:
    """The ids a committed batch touched, as one process tells the others."""

    order_ids: frozenset[int] = field(default_factory=frozenset)
    trade_ids: frozenset[int] = field(default_factory=frozenset)
    alert_ids: frozenset[int] = field(default_factory=frozenset)
    fills: int = 0
    proposal_ids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(cls, result: ApplyResult) -> ChangeNotice:
        return cls(
            frozenset(result.order_ids),
            frozenset(result.trade_ids),
            frozenset(result.alert_ids),
            result.fills,
        )

    @classmethod
    def of_changed(cls, changed: Changed) -> ChangeNotice:
        return cls(
            changed.order_ids,
            changed.trade_ids,
            changed.alert_ids,
            changed.fills,
            changed.proposal_ids,
        )

    @property
    def empty(self) -> bool:
        return not (self.order_ids or self.trade_ids or self.alert_ids or self.proposal_ids)

    def payloads(self) -> Iterator[str]:
        """Split into NOTIFY payloads that fit PostgreSQL's limit."""
        items = [("o", i) for i in sorted(self.order_ids)]
        items += [("t", i) for i in sorted(self.trade_ids)]
        items += [("a", i) for i in sorted(self.alert_ids)]
        items += [("p", i) for i in sorted(self.proposal_ids)]
        chunk: dict[str, Any] = {"o": [], "t": [], "a": [], "p": [], "f": self.fills}
        size = 40
        for kind, value in items:
            width = len(str(value)) + 1
            if size + width > _MAX_PAYLOAD:
                yield json.dumps(chunk, separators=(",", ":"))
                chunk = {"o": [], "t": [], "a": [], "p": [], "f": 0}
                size = 40
            chunk[kind].append(value)
            size += width
        yield json.dumps(chunk, separators=(",", ":"))

    @classmethod
    def parse(cls, payload: str) -> ChangeNotice:
        """Read one payload; a malformed one is an error the listener logs and skips."""
        data = json.loads(payload)
        return cls(
            frozenset(int(i) for i in data.get("o", ())),
            frozenset(int(i) for i in data.get("t", ())),
            frozenset(int(i) for i in data.get("a", ())),
            int(data.get("f", 0)),
            frozenset(int(i) for i in data.get("p", ())),
        )


class PostgresChangeBus:
    """Publish committed batches with NOTIFY; listen for everyone's with LISTEN."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def publish(self, result: ApplyResult) -> None:
        """Applier listener: tell every process what this batch changed (never raises)."""
        self._send(ChangeNotice.of(result))

    def publish_changed(self, changed: Changed) -> None:
        """Applier change listener: tell every process what a write beside the apply path
        changed (an order recorded, a cancel request, a proposal); never raises."""
        self._send(ChangeNotice.of_changed(changed))

    def _send(self, notice: ChangeNotice) -> None:
        if notice.empty:
            return
        try:
            with self.engine.connect() as connection:
                for payload in notice.payloads():
                    connection.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": CHANNEL, "payload": payload},
                    )
                connection.commit()
        except Exception:  # the change is committed; live pages will catch up on reload
            log.exception("could not announce a committed change to other processes")

    async def listen(self, retry_s: float = 1.0) -> AsyncIterator[ChangeNotice]:
        """Yield every process's notices until cancelled, reconnecting when the link drops."""
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for notice in conn.notifies():
                        try:
                            yield ChangeNotice.parse(notice.payload)
                        except (ValueError, TypeError, AttributeError):
                            log.warning("ignoring a malformed change notice %r", notice.payload)
            except (psycopg.OperationalError, OSError) as error:
                log.warning("change notices: connection lost (%s); reconnecting", error)
                await asyncio.sleep(retry_s)
