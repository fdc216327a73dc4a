"""Alerts: trade ideas from named alerters, keyed by source and symbol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class LastOrderUpdate:
    """The latest order fill seen for an alert."""

    order_id: str
    status: str
    filled_qty: Decimal
    updated_at: datetime


@dataclass(frozen=True)
class Alert:
    """One alerter's idea on one symbol (optionally an exact option)."""

    id: int | None
    source: str
    key: str  # the key in the alerter's file, normally the symbol
    symbol: str
    open: bool = False
    strike: Decimal | None = None
    right: str | None = None
    expiry: date | None = None
    contract_id: str | None = None
    created_at: str | None = None  # kept as the alerter wrote it, for an exact round trip
    last_order_update: LastOrderUpdate | None = None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)
