"""Paper broker settings and the per-order behaviours it can play."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Behaviour(StrEnum):
    """What the paper broker does with an order, one step per `advance()`."""

    FILL = "fill"  # filled at once on the first step
    PARTIAL = "partial"  # filled in `partial_steps` equal parts
    WORK = "work"  # stays working until cancelled
    REJECT = "reject"  # refused at placement
    EXPIRE = "expire"  # expires on the first step
    CANCEL = "cancel"  # the broker cancels it on the first step


@dataclass(frozen=True)
class PaperConfig:
    """How the paper account behaves."""

    account_id: str = "PAPER-1"
    default: Behaviour = Behaviour.FILL
    by_symbol: dict[str, Behaviour] = field(default_factory=dict)
    partial_steps: int = 3
    stock_price: Decimal = Decimal("100")
    option_price: Decimal = Decimal("2.50")
