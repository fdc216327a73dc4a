"""Broker accounts kept in the database (credentials never leave this module but to a broker)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ordertrail.broker_factory import AccountSpec
from ordertrail.storage.tables import accounts


class AccountRepository:
    """Accounts on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def specs(self) -> list[AccountSpec]:
        """Every enabled account, ready to build a broker from."""
        query = select(accounts).where(accounts.c.enabled.is_(True)).order_by(accounts.c.id)
        return [
            AccountSpec(r.broker, r.account_id, r.credentials, r.settings or {})
            for r in self._c.execute(query)
        ]

    def public(self) -> list[dict[str, Any]]:
        """Every account as it may be shown: no credentials, only whether there are some."""
        rows = self._c.execute(select(accounts).order_by(accounts.c.id))
        return [
            {
                "broker": r.broker,
                "account_id": r.account_id,
                "label": r.label,
                "settings": r.settings,
                "has_credentials": bool(r.credentials),
                "enabled": r.enabled,
            }
            for r in rows
        ]

    def upsert(self, spec: AccountSpec, label: str | None, at: datetime) -> bool:
        """Add or replace an account; return True when it was new."""
        values: Mapping[str, Any] = {
            "label": label,
            "settings": dict(spec.settings),
            "credentials": spec.credentials,
            "enabled": True,
            "updated_at": at,
        }
        where = (accounts.c.broker == spec.broker) & (accounts.c.account_id == spec.account_id)
        if self._c.execute(update(accounts).where(where).values(**values)).rowcount:
            return False
        self._c.execute(
            insert(accounts).values(
                broker=spec.broker, account_id=spec.account_id, created_at=at, **values
            )
        )
        return True

    def remove(self, broker: str, account_id: str) -> bool:
        where = (accounts.c.broker == broker) & (accounts.c.account_id == account_id)
        return bool(self._c.execute(delete(accounts).where(where)).rowcount)
