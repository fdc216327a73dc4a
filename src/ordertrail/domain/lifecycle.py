"""Lifecycle text: one human line per proposal, from its order and its trade."""

from __future__ import annotations

from decimal import Decimal

from ordertrail.domain.events import normalise
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.trade import TradeStatus


def lifecycle_text(
    kind: ProposalKind,
    status: OrderStatus | None,
    *,
    filled: Decimal = Decimal(0),
    quantity: Decimal | None = None,
    trade_status: TradeStatus | None = None,
    reason: str | None = None,
    cancelled_proposal: bool = False,
) -> str:
    """Say where a proposal stands: `Entry partially filled (3/5)`, `Exit filled – trade CLOSED`."""
    word = "Entry" if kind is ProposalKind.ENTRY else "Exit"
    trade = f" – trade {trade_status.value}" if trade_status is not None else ""
    if status is None:
        return f"{word} withdrawn" if cancelled_proposal else f"{word} proposed"
    done = (
        f"{normalise(filled)}/{normalise(quantity)}" if quantity is not None else normalise(filled)
    )
    if status is OrderStatus.PENDING:
        return f"{word} submitted{trade}"
    if status is OrderStatus.PLACED:
        return f"{word} working{trade}"
    if status is OrderStatus.PARTIAL:
        return f"{word} partially filled ({done}){trade}"
    if status is OrderStatus.FILLED:
        return f"{word} filled{trade}"
    if status is OrderStatus.REJECTED:
        return f"Rejected: {reason or 'no reason given'}"
    ended = "cancelled" if status is OrderStatus.CANCELLED else "expired"
    if filled > 0:
        return f"{word} {ended} after {done} filled{trade}"
    return f"{word} {ended}{trade}"
