"""`ListCache`: the last order list's reports, so an unchanged order is not parsed again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ordertrail.brokers.tradier.parsing import needs_fill_data, parse_order_dict
from ordertrail.domain.report import OrderReport

Answer = tuple[OrderReport, bool]  # a report, and whether it is known to have its fill data
Seen = tuple[Mapping[str, Any], Answer]  # a raw order and the answer kept for it


class ListCache:
    """Per broker order id, the raw order of the latest list and the report parsed from it.

    An order whose raw object equals the one remembered gets the remembered report, the very
    same object, so a caller can tell an unchanged order by identity. Only the latest list's
    orders are kept (`finish` drops the rest), so memory is bounded by the list. A report that
    still needs fill data is never kept: the next list parses it again and the adapter goes
    on asking for its numbers. Every pair kept is a raw order and its own parse, so two
    lists read at once can only cost each other remembered orders, never a wrong report.
    """

    def __init__(self, account_id: str, source: str = "poll") -> None:
        self._account_id = account_id
        self._source = source
        self._last: dict[int | str, Seen] = {}  # by the id as Tradier sends it
        self._next: dict[int | str, Seen] = {}

    def __len__(self) -> int:
        return len(self._last)

    def start(self) -> None:
        """Begin reading a list (what a list read only in part left behind is dropped)."""
        self._next = {}

    def reports(self, orders: Iterable[Mapping[str, Any]]) -> list[Answer]:
        """Report a page of listed orders, each unchanged one by its remembered report; say of
        each whether it is known to have its fill data (False: ask `needs_fill_data`)."""
        last, kept = self._last, self._next
        answers: list[Answer] = []
        for order in orders:
            key = order.get("id")
            if type(key) is not int and type(key) is not str:  # no id, or one we cannot hash
                answers.append((self._parse(order), False))
                continue
            seen = kept.get(key) or last.get(key)  # this read's (a backfill's second list)
            if seen is not None and seen[0] == order:
                kept[key] = seen
                answers.append(seen[1])  # the answer itself is kept: nothing is built
                continue
            report = self._parse(order)
            if needs_fill_data(report):
                kept.pop(key, None)  # a later copy in the same list replaces an earlier one
                answers.append((report, False))
            else:
                answer = (report, True)
                kept[key] = (order, answer)
                answers.append(answer)
        return answers

    def finish(self) -> None:
        """Keep the orders of the list just read and forget the others."""
        self._last, self._next = self._next, {}

    def _parse(self, order: Mapping[str, Any]) -> OrderReport:
        return parse_order_dict(order, self._account_id, self._source)
