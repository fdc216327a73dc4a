"""Alerts in and out, in the alerters' own JSON format (one alerter, or several by name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ordertrail.clock import Clock
from ordertrail.domain.alert import Alert
from ordertrail.errors import InvalidRequest
from ordertrail.storage.uow import UnitOfWork

MAX_STRIKE = 10**7
_ALERT_KEYS = frozenset(
    {"open", "created_at", "option_conid", "alert_details", "last_order_update"}
)


def is_single_alerter(document: Mapping[str, Any]) -> bool:
    """Tell `{"TSLA": {...alert...}}` (one alerter) from `{"<alerter>": {"TSLA": {...}}}`."""
    return all(
        isinstance(entry, Mapping) and (not entry or _ALERT_KEYS & set(entry))
        for entry in document.values()
    )


@dataclass(frozen=True)
class Imported:
    """What an import stored: how many alerts each alerter had, and the alerts' ids."""

    counts: dict[str, int]
    alert_ids: frozenset[int]


def import_alerts(
    uow: UnitOfWork, document: Mapping[str, Any], clock: Clock, source: str | None = None
) -> Imported:
    """Store alerts from an alerter's file; say how many each alerter had, and which."""
    if not isinstance(document, Mapping):
        raise InvalidRequest("an alerts file is a JSON object keyed by symbol or by alerter")
    if source is not None or is_single_alerter(document):
        if source is None:
            raise InvalidRequest("this file holds one alerter's alerts: name it with --source")
        by_source: Mapping[str, Any] = {source: document}
    else:
        by_source = document
    now = clock.now()
    counts: dict[str, int] = {}
    ids: set[int] = set()
    with uow:
        for name, entries in by_source.items():
            if not isinstance(entries, Mapping):
                raise InvalidRequest(f"alerter {name!r}: expected an object keyed by symbol")
            for key, entry in entries.items():
                alert = parse_alert(name, key, entry)
                ids.add(uow.alerts.upsert(alert, entry.get("last_order_update"), now))
            counts[name] = len(entries)
        uow.commit()
    return Imported(counts, frozenset(ids))


def parse_alert(source: str, key: str, entry: Any) -> Alert:
    """Read one alerter entry; say exactly what is wrong with a bad one."""
    where = f"alert {source}/{key}"
    if not isinstance(entry, Mapping):
        raise InvalidRequest(f"{where}: expected an object")
    details = entry.get("alert_details") or {}
    if not isinstance(details, Mapping):
        raise InvalidRequest(f"{where}: alert_details must be an object")
    strike_value = read_strike(where, details.get("strike"))
    right = _text(where, "side", details.get("right") or details.get("side"))
    right = right.upper()[:1] if right and right.upper()[:1] in ("C", "P") else None
    expiry_text = _text(where, "expiry", details.get("expiry") or details.get("expiration"))
    try:
        expiry = date.fromisoformat(expiry_text) if expiry_text else None
    except ValueError as error:
        raise InvalidRequest(f"{where}: expiry {expiry_text!r} is not YYYY-MM-DD") from error
    _check_order_update(where, entry.get("last_order_update"))
    is_open = entry.get("open", False)
    if not isinstance(is_open, bool):
        raise InvalidRequest(f"{where}: open must be true or false, not {is_open!r}")
    conid = entry.get("option_conid")
    if (conid is not None and not isinstance(conid, (int, str))) or isinstance(conid, bool):
        raise InvalidRequest(f"{where}: option_conid must be a number or a text")
    symbol = _text(where, "ticker", details.get("ticker")) or key
    if not symbol.strip():
        raise InvalidRequest(f"{where}: no symbol (ticker or key)")
    return Alert(
        id=None,
        source=source,
        key=key,
        symbol=symbol.strip().upper(),
        open=is_open,
        strike=strike_value,
        right=right,
        expiry=expiry,
        contract_id=str(conid) if conid not in (None, "") else None,
        created_at=entry.get("created_at"),
        document=dict(entry),
    )


def read_strike(where: str, strike: Any) -> Decimal | None:
    """A strike given as a number or a numeric text (empty: none), finite and in range."""
    if strike is None or strike == "":
        return None
    if isinstance(strike, bool) or not isinstance(strike, (int, float, str)):
        raise InvalidRequest(f"{where}: strike must be a number, not {type(strike).__name__}")
    try:
        value = Decimal(str(strike).strip())
    except InvalidOperation as error:
        raise InvalidRequest(f"{where}: strike {strike!r} is not a number") from error
    if not value.is_finite() or not 0 <= value < MAX_STRIKE:
        raise InvalidRequest(f"{where}: strike {strike!r} is out of range (0 to {MAX_STRIKE})")
    return value


def _text(where: str, name: str, value: Any) -> str | None:
    """A detail that must be text when given."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: {name} must be a text, not {type(value).__name__}")
    return value


def _check_order_update(where: str, update: Any) -> None:
    """Refuse a `last_order_update` that later reads could not use."""
    if update is None:
        return
    if not isinstance(update, Mapping):
        raise InvalidRequest(f"{where}: last_order_update must be an object")
    try:
        filled = update.get("filled_qty", 0)
        if isinstance(filled, bool) or not Decimal(str(filled)).is_finite():
            raise ValueError(f"filled_qty {filled!r}")
        if update.get("updated_at") is not None:
            datetime.fromisoformat(str(update["updated_at"]))
    except (InvalidOperation, ValueError) as error:
        raise InvalidRequest(
            f"{where}: last_order_update needs a numeric filled_qty and an ISO updated_at"
        ) from error


def export_alerts(uow: UnitOfWork, source: str | None = None) -> dict[str, Any]:
    """Write alerts back in the alerters' format, with `open` and `last_order_update` current."""
    with uow:
        alerts = uow.alerts.all(source)
        updates = uow.alerts.raw_updates(source)
    grouped: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        entry = dict(alert.document)
        entry["open"] = alert.open
        update = updates.get(alert.id or 0)
        if update is not None:
            entry["last_order_update"] = update
        grouped.setdefault(alert.source, {})[alert.key] = entry
    if source is not None:
        return grouped.get(source, {})
    return grouped
