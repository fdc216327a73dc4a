"""The alerts repository."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ordertrail.domain.alert import Alert, LastOrderUpdate
from ordertrail.storage import driver
from ordertrail.storage.bulk import update_rows
from ordertrail.storage.tables import alerts
from ordertrail.storage.types import Codec, dump_json, read_money


def _update_from_json(data: Mapping[str, Any] | None) -> LastOrderUpdate | None:
    if not data:
        return None
    return LastOrderUpdate(
        order_id=str(data.get("order_id", "")),
        status=str(data.get("status", "")),
        filled_qty=Decimal(str(data.get("filled_qty", 0))),
        updated_at=datetime.fromisoformat(str(data.get("updated_at") or "1970-01-01T00:00:00")),
    )


def alert_from_row(row: Any) -> Alert:
    """Build the domain alert from an `alerts` row."""
    document = row.document or {}
    return Alert(
        id=row.id,
        source=row.source,
        key=row.key,
        symbol=row.symbol,
        open=row.open,
        strike=row.strike,
        right=row.right,
        expiry=date.fromisoformat(row.expiry) if row.expiry else None,
        contract_id=row.contract_id,
        created_at=document.get("created_at"),
        last_order_update=_update_from_json(row.last_order_update),
        document=document,
    )


class AlertRepository:
    """Alerts on one connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def for_matching(self, symbols: Collection[str]) -> list[Alert]:
        """The alerts on `symbols` (as stored: upper case) with what matching reads (source,
        key, symbol, strike, right, expiry, contract id), in `all()`'s order; documents and
        last updates are left unread."""
        if not symbols:
            return []
        columns = ("id", "source", "key", "symbol", "open", "strike", "right", "expiry")
        codec = Codec(self._c.dialect.name)
        condition = f"symbol {codec.in_list('text')} ORDER BY source, id"
        sql = codec.select(alerts, (*columns, "contract_id"), condition)
        found = []
        for (
            aid,
            source,
            key,
            symbol,
            is_open,
            strike,
            right,
            expiry,
            contract_id,
        ) in driver.rows(self._c, sql, (codec.list_param(sorted(symbols)),)):
            found.append(
                Alert(
                    id=aid,
                    source=source,
                    key=key,
                    symbol=symbol,
                    open=bool(is_open),
                    strike=read_money(strike),
                    right=right,
                    expiry=date.fromisoformat(expiry) if expiry else None,
                    contract_id=contract_id,
                )
            )
        return found

    def all(self, source: str | None = None) -> list[Alert]:
        query = select(alerts).order_by(alerts.c.source, alerts.c.id)
        if source is not None:
            query = query.where(alerts.c.source == source)
        return [alert_from_row(row) for row in self._c.execute(query)]

    def raw_updates(self, source: str | None = None) -> dict[int, Any]:
        """Each alert's `last_order_update` exactly as stored."""
        query = select(alerts.c.id, alerts.c.last_order_update)
        if source is not None:
            query = query.where(alerts.c.source == source)
        return {row.id: row.last_order_update for row in self._c.execute(query)}

    def by_symbol(self, symbols: set[str]) -> list[Alert]:
        query = select(alerts).where(alerts.c.symbol.in_(sorted(s.upper() for s in symbols)))
        return [alert_from_row(row) for row in self._c.execute(query)]

    def upsert(self, alert: Alert, last_order_update: Any, at: datetime) -> int:
        """Insert or replace one alerter's entry; return its id."""
        values = {
            "symbol": alert.symbol.upper(),
            "open": alert.open,
            "strike": alert.strike,
            "right": alert.right,
            "expiry": alert.expiry.isoformat() if alert.expiry else None,
            "contract_id": alert.contract_id,
            "document": dict(alert.document),
            "last_order_update": last_order_update,
            "updated_at": at,
        }
        existing = self._c.execute(
            select(alerts.c.id).where(alerts.c.source == alert.source, alerts.c.key == alert.key)
        ).scalar()
        if existing is None:
            made = self._c.execute(
                insert(alerts).values(source=alert.source, key=alert.key, created_at=at, **values)
            )
            key = made.inserted_primary_key
            assert key is not None
            return int(key[0])
        self._c.execute(update(alerts).where(alerts.c.id == existing).values(**values))
        return int(existing)

    def mark_order_update(
        self, alert_id: int, update_json: Mapping[str, Any], at: datetime
    ) -> None:
        """Set an alert open with its latest order update."""
        self._c.execute(
            update(alerts)
            .where(alerts.c.id == alert_id)
            .values(open=True, last_order_update=dict(update_json), updated_at=at)
        )

    def mark_many(
        self, updates: Mapping[int, Mapping[str, Any]], at: datetime, codec: Codec
    ) -> None:
        """`mark_order_update` for many alerts in one statement."""
        if updates:
            stamp = codec.when(at)
            params = [(True, dump_json(dict(u)), stamp, aid) for aid, u in updates.items()]
            names = ("open", "last_order_update", "updated_at")
            update_rows(self._c, alerts, names, params, codec)
