"""Proposals: a strategy's request to open (ENTRY) or close (EXIT) a trade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ordertrail.domain.instrument import Instrument


class ProposalKind(StrEnum):
    """Whether a proposal opens a new trade or closes an existing one."""

    ENTRY = "ENTRY"
    EXIT = "EXIT"


class ProposalStatus(StrEnum):
    """A proposal's own state: NEW until submitted, then it follows its order."""

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    WORKING = "WORKING"
    PARTIAL = "PARTIAL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class ProposalLeg:
    """One leg of a multi-leg proposal (an option, by OCC symbol, and its broker side)."""

    option_symbol: str
    side: str
    quantity: Decimal


@dataclass(frozen=True)
class Proposal:
    """A request to act, and what it became."""

    id: int
    kind: ProposalKind
    status: ProposalStatus
    broker: str
    account_id: str
    instrument: Instrument
    side: str  # the broker's side word: buy, sell, buy_to_open, sell_to_close...
    quantity: Decimal
    order_type: str = "market"
    limit_price: Decimal | None = None
    duration: str = "day"
    linked_trade_id: int | None = None
    client_order_id: str | None = None
    legs: tuple[ProposalLeg, ...] = ()
    note: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
