"""Valid broker histories of one order, as the reports Tradier-like and IBKR-like adapters make.

A history is what the broker really did, step by step (fills, cancel pending, cancel, expiry,
rejection, late fills after a cancel); `reports` turns each step into the report an adapter
would hand the apply path, in the broker's own order (the "sorted" sequence).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from ordertrail.domain.report import Execution, OrderReport
from ordertrail.domain.status import OrderStatus

D = Decimal
ZERO = Decimal(0)
START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
TERMINAL_WORDS = {"filled", "canceled", "expired", "rejected"}
IBKR_WORDS = {
    "open": "Submitted",
    "pending_cancel": "PendingCancel",
    "filled": "Filled",
    "canceled": "Cancelled",
    "expired": "Cancelled",
    "rejected": "Cancelled",
}
CANONICAL = {
    "open": OrderStatus.PLACED,
    "pending_cancel": OrderStatus.PLACED,
    "partially_filled": OrderStatus.PARTIAL,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


@dataclass
class Truth:
    """The broker's order after one step."""

    word: str
    filled: Decimal
    notional: Decimal
    last_quantity: Decimal = ZERO
    last_price: Decimal = ZERO
    executions: list[Execution] = field(default_factory=list)

    @property
    def average(self) -> Decimal | None:
        return (self.notional / self.filled) if self.filled else None


@dataclass(frozen=True)
class History:
    """What the broker did with one order: its quantity and every state it went through."""

    quantity: Decimal
    states: tuple[Truth, ...]

    @property
    def final(self) -> Truth:
        return self.states[-1]


@st.composite
def histories(draw: st.DrawFn) -> History:
    """Draw a history that a real broker could produce for one order."""
    quantity = D(draw(st.integers(1, 12)))
    truth = Truth("open", D(0), D(0))
    states = [truth]
    if draw(st.integers(0, 9)) == 0:
        return History(quantity, (truth, _moved(truth, "rejected")))
    serial = 0
    for _ in range(draw(st.integers(0, 7))):
        left = quantity - truth.filled
        step = draw(st.sampled_from(["fill", "fill", "fill", "pending_cancel", "end"]))
        if truth.word in TERMINAL_WORDS and step != "fill":
            break
        if step == "end" or (step == "fill" and left <= 0):
            break
        if step == "pending_cancel":
            truth = _moved(truth, "pending_cancel")
        else:
            amount = D(draw(st.integers(1, int(left))))
            price = D(draw(st.integers(100, 200))) / 100
            serial += 1
            truth = _filled(truth, amount, price, quantity, f"e{serial}")
        states.append(truth)
    if truth.word not in TERMINAL_WORDS:
        ending = draw(st.sampled_from(["working", "canceled", "expired", "canceled_late_fill"]))
        if ending != "working":
            truth = _moved(truth, "expired" if ending == "expired" else "canceled")
            states.append(truth)
        left = quantity - truth.filled
        if ending == "canceled_late_fill" and left > 0:
            amount = D(draw(st.integers(1, int(left))))
            truth = _filled(truth, amount, D("1.50"), quantity, f"e{serial + 1}")
            states.append(truth)
    return History(quantity, tuple(states))


def _moved(truth: Truth, word: str) -> Truth:
    return replace(truth, word=word, executions=list(truth.executions))


def _filled(truth: Truth, amount: Decimal, price: Decimal, quantity: Decimal, key: str) -> Truth:
    filled = truth.filled + amount
    if filled >= quantity:
        word = "filled"
    elif truth.word in TERMINAL_WORDS:
        word = truth.word  # a late fill on a cancelled order keeps it cancelled
    else:
        word = "partially_filled"
    return Truth(
        word=word,
        filled=filled,
        notional=truth.notional + amount * price,
        last_quantity=amount,
        last_price=price,
        executions=[*truth.executions, Execution(key, amount, price)],
    )


def canonical(word: str, filled: Decimal) -> OrderStatus:
    """The canonical status an adapter reports for a broker word and a filled quantity."""
    status = CANONICAL[word]
    if status is OrderStatus.PLACED and filled > 0:
        return OrderStatus.PARTIAL
    return status


def tradier_reports(history: History, account: str, order_id: str) -> list[OrderReport]:
    """Reports with cumulative numbers and no execution ids (the domain derives the fills)."""
    reports = []
    for index, truth in enumerate(history.states):
        reports.append(
            OrderReport(
                broker="tradier",
                account_id=account,
                broker_order_id=order_id,
                status=canonical(truth.word, truth.filled),
                broker_status=truth.word,
                filled_quantity=truth.filled,
                avg_fill_price=truth.average,
                last_fill_price=truth.last_price or None,
                last_fill_quantity=truth.last_quantity or None,
                quantity=history.quantity,
                remaining_quantity=max(history.quantity - truth.filled, D(0)),
                derives_fills=True,
                broker_ts=START + timedelta(seconds=index),
            )
        )
    return reports


def ibkr_reports(history: History, account: str, order_id: str) -> list[OrderReport]:
    """Row reports (status, cumulative numbers) and trade reports (one execution each)."""
    reports: list[OrderReport] = []
    seen = 0
    for index, truth in enumerate(history.states):
        at = START + timedelta(seconds=index)
        for execution in truth.executions[seen:]:
            reports.append(
                OrderReport(
                    broker="ibkr",
                    account_id=account,
                    broker_order_id=order_id,
                    executions=(
                        replace(
                            execution,
                            execution_id=f"{order_id}.{execution.execution_id}",
                            executed_at=at,
                        ),
                    ),
                    derives_fills=False,
                    broker_ts=at,
                    source="stream",
                )
            )
        seen = len(truth.executions)
        word = IBKR_WORDS.get(truth.word, "Submitted")
        reports.append(
            OrderReport(
                broker="ibkr",
                account_id=account,
                broker_order_id=order_id,
                status=canonical(truth.word, truth.filled),
                broker_status=word,
                filled_quantity=truth.filled,
                avg_fill_price=truth.average,
                quantity=history.quantity,
                remaining_quantity=max(history.quantity - truth.filled, D(0)),
                derives_fills=False,
                broker_ts=at,
            )
        )
    return reports


@st.composite
def scrambled(draw: st.DrawFn, reports: list[OrderReport]) -> list[OrderReport]:
    """The same reports in any order, some of them two or three times."""
    copies = [report for report in reports for _ in range(draw(st.integers(1, 3), label="copies"))]
    return draw(st.permutations(copies))
