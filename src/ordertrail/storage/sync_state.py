"""Per-account sync state: last poll, last reconcile, stream state, last error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ordertrail.storage.tables import sync_state


class SyncStateRepository:
    """Sync state rows on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, broker: str, account_id: str) -> dict[str, Any] | None:
        row = self._c.execute(
            select(sync_state).where(
                sync_state.c.broker == broker, sync_state.c.account_id == account_id
            )
        ).first()
        return dict(row._mapping) if row else None

    def record(self, broker: str, account_id: str, at: datetime, **values: Any) -> None:
        """Upsert the given columns for one account."""
        where = (sync_state.c.broker == broker) & (sync_state.c.account_id == account_id)
        values["updated_at"] = at
        if self._c.execute(update(sync_state).where(where).values(**values)).rowcount == 0:
            self._c.execute(
                insert(sync_state).values(broker=broker, account_id=account_id, **values)
            )
