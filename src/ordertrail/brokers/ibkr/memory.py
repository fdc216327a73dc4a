"""PollMemory: what the IBKR adapter keeps between polls so unchanged data is not parsed again."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ordertrail.brokers.ibkr.slices import Pacer
from ordertrail.brokers.ibkr.values import decimal_or_none, id_text, text_or_none
from ordertrail.domain.report import OrderReport

Row = Mapping[str, Any]
ZERO = Decimal(0)


class PollMemory:
    """Order rows already parsed and executions already committed, for one account.

    The order list repeats every working order on every poll: a row equal to the one the
    previous poll held gives back the report parsed from it then, and the list gives back the
    very report object it gave then, so what was applied before can be known by identity.

    The trades answer repeats every execution of the last days on every poll. An execution
    whose id a committed transaction carried is left out of later polls' reports: parsing
    it and applying it again could only find it already recorded. Only a commit marks an id
    (`committed`, told by the applier after the transaction; a failed apply tells nothing),
    so an execution whose apply failed is parsed and reported again by the next poll. Ids
    the latest trades answer no longer holds are forgotten, which keeps the memory as large
    as that answer; forgetting is always safe (an id forgotten is reported again and the
    apply path knows it by its execution id).

    What is recorded also tells when a poll need not ask for the trades at all (`accounts_for`).
    """

    def __init__(self, broker: str, account_id: str) -> None:
        self.broker = broker
        self.account_id = account_id
        self._rows: dict[str, tuple[Row, OrderReport]] = {}
        self._listed: dict[str, OrderReport] = {}
        self._recorded: dict[str, tuple[str, Decimal]] = {}  # execution id -> order, quantity
        self._filled: dict[str, Decimal] = {}  # order -> quantity its recorded executions add up to
        self._arrived: deque[tuple[str, str, Decimal]] = deque()  # from the writer thread
        self._awaited: set[str] = set()  # executions the last trades answer had us report

    def committed(self, reports: Sequence[OrderReport]) -> None:
        """Note the executions of committed reports (called on the writer thread)."""
        for report in reports:
            if (
                report.executions
                and report.broker == self.broker
                and report.account_id == self.account_id
            ):
                order = _order_key(report.broker_order_id, report.client_order_id)
                self._arrived.extend((e.execution_id, order, e.quantity) for e in report.executions)

    def new_trades(self, rows: Iterable[Row]) -> list[Row]:
        """The trade rows whose executions are not known to be recorded; forget the ids this
        answer does not hold."""
        self._take_arrivals()
        recorded = self._recorded
        fresh: list[Row] = []
        held: set[str] = set()
        for row in rows:
            execution_id = text_or_none(row.get("execution_id"))
            if execution_id is None:
                fresh.append(row)  # the parser says why it cannot be used
            else:
                held.add(execution_id)
                if execution_id not in recorded:
                    fresh.append(row)
        for gone in [e for e in recorded if e not in held]:
            self._forget(gone)
        return fresh

    def await_recording(self, reports: Iterable[OrderReport]) -> None:
        """Note the executions a poll built from a trades answer reports."""
        self._awaited = {e.execution_id for r in reports for e in r.executions}

    def accounts_for(self, rows: Sequence[Row]) -> bool:
        """Tell whether the trades answer can only repeat what is recorded: every execution
        the last answer had us report is recorded, no order of the last list is gone from
        this one (it may have filled meanwhile), and every listed order's filled quantity is
        covered by the executions recorded for it (an order's executions add up to it). A
        row that does not say its filled quantity says no."""
        self._take_arrivals()
        self._awaited = {e for e in self._awaited if e not in self._recorded}
        if self._awaited:
            return False
        if not self._rows.keys() <= {id_text(row.get("orderId")) for row in rows}:
            return False
        for row in rows:
            filled = decimal_or_none(row.get("filledQuantity"))
            order = _order_key(id_text(row.get("orderId")), text_or_none(row.get("order_ref")))
            if filled is None or self._filled.get(order, ZERO) < filled:
                return False
        return True

    def _take_arrivals(self) -> None:
        while self._arrived:
            execution_id, order, quantity = self._arrived.popleft()
            if execution_id not in self._recorded:
                self._recorded[execution_id] = (order, quantity)
                self._filled[order] = self._filled.get(order, ZERO) + quantity

    def _forget(self, execution_id: str) -> None:
        order, quantity = self._recorded.pop(execution_id)
        left = self._filled[order] - quantity
        if left:
            self._filled[order] = left
        else:
            del self._filled[order]

    async def order_reports(
        self, rows: Iterable[Row], parse: Callable[[Row], OrderReport | None]
    ) -> list[OrderReport]:
        """Parse the order list's rows, reusing the report of a row unchanged since the last
        list (`parse` answers None for a row it leaves out); remember this list's rows only.
        The loop runs between slices of rows (a list of hundreds changed orders is tens of
        milliseconds of parsing, and stream messages wait for none of it)."""
        previous, kept = self._rows, {}
        reports: list[OrderReport] = []
        pacer = Pacer()
        for row in rows:
            await pacer.pause()
            key = id_text(row.get("orderId"))
            known = previous.get(key) if key is not None else None
            if known is not None and known[0] == row:
                report: OrderReport | None = known[1]
            else:
                report = parse(row)
            if report is None:
                continue
            if key is not None:
                kept[key] = (row, report)
            reports.append(report)
        self._rows = kept
        return reports

    def same_as_before(self, reports: list[OrderReport]) -> list[OrderReport]:
        """Give back the previous list's report object for each order whose report is made
        from the same row and equal to it (finishing may have built an equal one anew)."""
        previous = self._listed
        out = []
        for report in reports:
            key = report.broker_order_id
            known = previous.get(key) if key is not None else None
            if known is not None and known.raw is report.raw and known == report:
                report = known
            out.append(report)
        self._listed = {r.broker_order_id: r for r in out if r.broker_order_id is not None}
        return out


def _order_key(broker_order_id: str | None, client_order_id: str | None) -> str:
    return broker_order_id if broker_order_id is not None else f"ref:{client_order_id or ''}"
