"""Alerts: list by alerter, import and export in the alerters' own JSON format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import TypeAdapter, ValidationError

from ordertrail.api.bodies import AlertEntryIn, Name
from ordertrail.api.deps import AppDep, ConnectionDep, Filter, HubDep
from ordertrail.api.schemas import AlertsImported, AlertsPublic
from ordertrail.errors import InvalidRequest
from ordertrail.services.alerts_io import export_alerts, import_alerts, is_single_alerter
from ordertrail.services.changes import Changed
from ordertrail.services.listings import list_alerts

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
_ENTRY = TypeAdapter(AlertEntryIn)
_NAME = TypeAdapter(Name)
Source = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The alerter (RealDayTrading, Demslayer...)",
    ),
]
EXAMPLE = {
    "TSLA": {
        "open": False,
        "created_at": "2025-09-27T21:48:54.749824",
        "option_conid": 622542959,
        "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
    }
}


@router.get("", response_model=AlertsPublic)
def read_alerts(
    connection: ConnectionDep, source: Filter = None, open: bool | None = None
) -> dict[str, Any]:
    """List alerts by alerter, with their open flag and last order update."""
    rows = list_alerts(connection, source, open)
    return {"data": rows, "count": len(rows)}


@router.post("/import", response_model=AlertsImported)
async def import_document(
    app: AppDep,
    hub: HubDep,
    document: Annotated[dict[str, Any], Body(examples=[EXAMPLE])],
    source: Source = None,
) -> dict[str, Any]:
    """Import one alerter's file (name it with `source`) or several keyed by alerter name."""
    check_document(document, source)

    def stored() -> dict[str, int]:
        imported = import_alerts(app.uow(), document, app.clock, source)
        # Every process's Alerts pages, told on the writer thread (NOTIFY on PostgreSQL must
        # not hold up the event loop).
        app.applier.tell(Changed(alert_ids=imported.alert_ids))
        return imported.counts

    counts = await app.applier.run(stored)
    hub.publish("alerts", {"imported": counts})
    return {"imported": counts}


@router.get("/export")
async def export_document(app: AppDep, source: Source = None) -> dict[str, Any]:
    """Write alerts back in the alerters' format, with `open` and `last_order_update` current."""
    return await app.applier.run(lambda: export_alerts(app.uow(), source))


def check_document(document: Mapping[str, Any], source: str | None) -> None:
    """Refuse a document the alerters' format does not allow, naming the bad entry."""
    if source is None and is_single_alerter(document):
        raise InvalidRequest("this document holds one alerter's alerts: name it with ?source=")
    by_source: Mapping[str, Any] = {source: document} if source is not None else document
    for name, entries in by_source.items():
        _name(name, "alerter")
        if not isinstance(entries, Mapping):
            raise InvalidRequest(f"alerter {name!r}: expected an object keyed by symbol")
        for key, entry in entries.items():
            _name(key, f"alerter {name!r}: key")
            try:
                _ENTRY.validate_python(entry)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise InvalidRequest(f"alert {name}/{key}: {where}: {first['msg']}") from error


def _name(value: Any, what: str) -> None:
    try:
        _NAME.validate_python(value)
    except ValidationError as error:
        raise InvalidRequest(
            f"{what} {str(value)[:40]!r} must be 1-64 letters, digits or . _ : -"
        ) from error
