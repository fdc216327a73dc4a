"""Canonical order statuses and the transition table every broker report is checked against."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """Where an order stands, whatever broker it lives at."""

    PENDING = "PENDING"  # recorded by us, no broker answer yet
    PLACED = "PLACED"  # working at the broker (held, accepted, cancel pending...)
    PARTIAL = "PARTIAL"  # working with some quantity filled
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)

_S = OrderStatus

# Every move a report may cause. A pair missing here is refused: the report is stale
# (its status part is ignored and counted) while its fills are still recorded.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # A fill can arrive before the acknowledgement, and a placement can be refused,
    # cancelled or expired before we ever saw it working.
    _S.PENDING: frozenset(
        {_S.PLACED, _S.PARTIAL, _S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED}
    ),
    _S.PLACED: frozenset({_S.PARTIAL, _S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED}),
    # Once something filled the order can no longer be refused as a whole; it ends
    # filled, cancelled (keeping its fills) or expired (keeping its fills).
    _S.PARTIAL: frozenset({_S.FILLED, _S.CANCELLED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    # Real-world edge: a cancel (or the session's end) races a fill at the exchange.
    # Tradier reports `canceled` with exec_quantity > 0 and IBKR fills orders in
    # PendingCancel, so a late report of the *full* fill turns the order FILLED.
    # Late partial fills are recorded without changing the terminal status.
    _S.CANCELLED: frozenset({_S.FILLED}),
    _S.EXPIRED: frozenset({_S.FILLED}),
    _S.REJECTED: frozenset(),
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Tell whether an order may move from `current` to `new` (a status to itself is no move)."""
    return new in TRANSITIONS[current]
