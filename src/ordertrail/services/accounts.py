"""Broker accounts kept in the database: add, list (without secrets), remove."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from ordertrail.broker_factory import KNOWN_BROKERS, AccountSpec
from ordertrail.clock import Clock
from ordertrail.errors import InvalidRequest, NotFound
from ordertrail.storage.accounts import AccountRepository

SETTING_NAMES: Mapping[str, frozenset[str]] = {
    "paper": frozenset(),
    "tradier": frozenset({"base_url", "stream_url", "stream_enabled"}),
    "ibkr": frozenset({"base_url", "verify_ssl", "ws_enabled", "ws_url"}),
    "tws": frozenset({"host", "port", "client_id"}),
}


def add_account(engine: Engine, spec: AccountSpec, clock: Clock, label: str | None = None) -> bool:
    """Store an account for the workers to pick up; return True when it is new."""
    if spec.broker not in KNOWN_BROKERS:
        raise InvalidRequest(f"broker {spec.broker!r} is not one of {', '.join(KNOWN_BROKERS)}")
    if not spec.account_id.strip():
        raise InvalidRequest("an account needs its broker account id")
    unknown = sorted(set(spec.settings) - SETTING_NAMES[spec.broker])
    if unknown:
        allowed = ", ".join(sorted(SETTING_NAMES[spec.broker])) or "none"
        raise InvalidRequest(
            f"{spec.broker} accounts take no setting {', '.join(unknown)} (allowed: {allowed})"
        )
    for name, value in spec.settings.items():
        problem = _problem(name, value)
        if problem:
            raise InvalidRequest(f"{spec.broker} setting {name}: {problem}")
    if spec.broker == "tradier" and not spec.credentials:
        raise InvalidRequest("a tradier account needs its access token")
    with engine.begin() as connection:
        return AccountRepository(connection).upsert(spec, label, clock.now())


_URLS = {
    "base_url": ("http", "https"),
    "stream_url": ("http", "https", "ws", "wss"),
    "ws_url": ("ws", "wss"),
}
_SWITCHES = frozenset({"stream_enabled", "verify_ssl", "ws_enabled"})


def _problem(name: str, value: Any) -> str | None:
    """What is wrong with one setting's value (None: nothing), before anything is stored."""
    if name in _URLS:
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in _URLS[name] or not parts.netloc:
            schemes = " or ".join(f"{scheme}://" for scheme in _URLS[name])
            return f"must be an address starting with {schemes}"
    elif name in _SWITCHES:
        if not isinstance(value, bool):
            return "must be true or false"
    elif name == "host":
        if not isinstance(value, str) or not value.strip():
            return "must be a host name or address"
    elif name in ("port", "client_id"):
        number = _whole(value)
        low, high = (1, 65535) if name == "port" else (0, 2**31 - 1)
        if number is None or not low <= number <= high:
            return f"must be a whole number from {low} to {high}"
    return None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def list_accounts(engine: Engine) -> list[dict[str, Any]]:
    """Every stored account, credentials left out."""
    with engine.connect() as connection:
        return AccountRepository(connection).public()


def remove_account(engine: Engine, broker: str, account_id: str) -> None:
    """Forget an account (its orders stay)."""
    with engine.begin() as connection:
        if not AccountRepository(connection).remove(broker, account_id):
            raise NotFound(f"no stored account {broker}:{account_id}")
