"""Rendering pages: the template environment and the small filters the templates use."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from typing import Any

from fastapi.templating import Jinja2Templates


def when(value: Any) -> str:
    """Show an ISO time as `2026-01-05 15:00:03Z` (in UTC); a time without an offset (an
    alerter's own, zone unknown) as written, without claiming a zone."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def amount(value: str | None) -> str:
    """Show a decimal string, or a dash when there is none."""
    return "–" if value in (None, "") else str(value)


def signed(value: str | None) -> str:
    """Say whether an amount is a gain, a loss or nothing (a CSS class)."""
    try:
        number = Decimal(value or "0")
    except InvalidOperation:
        return ""
    return "gain" if number > 0 else "loss" if number < 0 else ""


def pretty(value: Any) -> str:
    """Indent a raw payload for reading."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return str(value)
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def build_templates() -> Jinja2Templates:
    """The page templates, with the filters registered."""
    templates = Jinja2Templates(directory=str(files("ordertrail.web") / "templates"))
    env = templates.env
    env.filters.update(when=when, amount=amount, signed=signed, pretty=pretty)
    env.filters["lower"] = lambda text: str(text or "").lower()
    return templates
