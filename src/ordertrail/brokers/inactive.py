"""Orders IBKR parks in `Inactive` (Client Portal and TWS alike): REJECTED after a grace.

IBKR shows an order it will not work (outside its hours, refused by a check it reports
nowhere else) as `Inactive`, sometimes for good, sometimes only until it revives it. An
`Inactive` order with an error text is refused at once (the adapters map that); one without
is reported as it is, flagged, and once it has stayed so, without fills, for the grace
period, as REJECTED, so it does not hang as working for ever.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from ordertrail.clock import Clock
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus

INACTIVE = "inactive"  # the flag both adapters put on an order IBKR shows `Inactive`


class InactiveGrace:
    """Remember since when each order has been `Inactive` and say when its grace is over."""

    def __init__(self, grace_s: float, clock: Clock) -> None:
        self.grace = timedelta(seconds=grace_s)
        self._clock = clock
        self._since: dict[str, datetime] = {}  # broker order id -> first seen Inactive

    def __call__(self, report: OrderReport) -> OrderReport:
        """The report, REJECTED if it shows an order `Inactive` without fills past its grace."""
        key = report.broker_order_id
        if key is None or report.status is None:
            return report
        if INACTIVE not in report.flags or report.status is not OrderStatus.PLACED:
            self._since.pop(key, None)
            return report
        now = self._clock.now()
        since = self._since.setdefault(key, now)
        if now - since < self.grace:
            return report
        seconds = self.grace.total_seconds()
        reason = report.reason or f"Inactive for {seconds:.0f} s without fills"
        return replace(report, status=OrderStatus.REJECTED, reason=reason)
