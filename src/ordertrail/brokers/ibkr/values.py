"""IBKR wire values: numbers sent as numbers, strings or `""`, and its timestamp formats."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def decimal_or_none(value: Any) -> Decimal | None:
    """Read a number sent as a number, a numeric string or `""` (None when absent or empty)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    text = str(value).strip().replace(",", "")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def text_or_none(value: Any) -> str | None:
    """Return a non-empty string form of `value`, or None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


_MAX_ID_DIGITS = 40


def id_text(value: Any) -> str | None:
    """Write an order or contract id (number or string) as text; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > _MAX_ID_DIGITS:
            return None  # no broker id has thousands of digits: treat it as absent
        return str(int(value)) if value == value.to_integral_value() else str(value)
    return str(value)


def from_epoch_ms(value: Any) -> datetime | None:
    """Read epoch milliseconds (`lastExecutionTime_r`, `trade_time_r`, `hb`)."""
    number = decimal_or_none(value)
    if number is None or number <= 0:
        return None
    try:
        return datetime.fromtimestamp(float(number) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # far outside any real clock
        return None


def from_compact(value: Any) -> datetime | None:
    """Read `YYMMDDhhmmss` UTC (`lastExecutionTime`, `order_time`)."""
    return _strptime(value, "%y%m%d%H%M%S")


def from_trade_time(value: Any) -> datetime | None:
    """Read `YYYYMMDD-hh:mm:ss` UTC (`trade_time`)."""
    return _strptime(value, "%Y%m%d-%H:%M:%S")


def _strptime(value: Any, pattern: str) -> datetime | None:
    text = text_or_none(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text, pattern).replace(tzinfo=UTC)
    except ValueError:
        return None
