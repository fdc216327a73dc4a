"""What a commit touched, by id: what live pages and other processes are told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Changed:
    """The ids of the rows one commit touched: a batch of the apply path, or a write made
    beside it (an order recorded before placing, a cancel request, a new proposal)."""

    order_ids: frozenset[int] = frozenset()
    trade_ids: frozenset[int] = frozenset()
    alert_ids: frozenset[int] = frozenset()
    fills: int = 0
    proposal_ids: frozenset[int] = frozenset()


ChangeListener = Callable[[Changed], None]
