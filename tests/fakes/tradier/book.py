"""The fake's order book: orders indexed by id, the list window, and every move an order makes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.fakes.tradier.knobs import Knobs
from tests.fakes.tradier.orders import FINAL, MULTILEG, FakeOrder, Step

EASTERN = ZoneInfo("America/New_York")
WORKING = frozenset({"pending", "open", "partially_filled", "pending_cancel", "submitted"})
Publish = Callable[[FakeOrder], None]


class OrderBook:
    """Every order of every account, safe to drive from the server loop and test threads."""

    def __init__(
        self, knobs: Knobs, clock: Callable[[], datetime], publish: Publish, first_id: int
    ) -> None:
        self.knobs = knobs
        self.clock = clock
        self.lock = threading.RLock()
        self._publish = publish
        self._first_id = first_id
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[int, FakeOrder] = {}
            self._top: dict[str, list[FakeOrder]] = {}
            self._scripted: set[int] = set()
            self._next = self._first_id

    def new_id(self) -> int:
        with self.lock:
            self._next += 1
            return self._next

    def add(self, order: FakeOrder, status: str | None = None) -> FakeOrder:
        """Index an order and its legs, set their first status and announce it."""
        with self.lock:
            self._top.setdefault(order.account, []).append(order)
            for item in (order, *order.legs):
                self.orders[item.id] = item
                item.status = status or self.knobs.initial_status
            self._announce(order)
            return order

    def find(self, order_id: int, account: str | None = None) -> FakeOrder | None:
        order = self.orders.get(order_id)
        if order is None or (account is not None and order.account != account):
            return None
        return order

    def get(self, order_id: int) -> FakeOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise KeyError(f"the fake has no order {order_id}")
        return order

    def read(self, order: FakeOrder, tags: bool) -> dict[str, object]:
        """Show an order to a REST read: fill-data lag used up, `pending` opened once seen."""
        with self.lock:
            view = order.view(tags=tags, lagging=order.lag_reads > 0)
            if order.lag_reads > 0:
                order.lag_reads -= 1
            if self.knobs.auto_open and order.status == "pending" and order.opens_when_seen:
                self._move(order, "open", only_from=("pending",))
            return view

    def listed(
        self, account: str, filter_: str, start: date | None, end: date | None
    ) -> list[FakeOrder]:
        """The account's orders a list call reaches (today in ET, or a month with `filter=all`)."""
        today = self.clock().astimezone(EASTERN).date()
        with self.lock:
            orders = list(self._top.get(account, ()))
        if filter_ == "all":
            first = max(start or today - timedelta(days=31), today - timedelta(days=31))
            last = end or today
            return [o for o in orders if first <= _day(o.created) <= last]
        day_start = datetime.combine(today, time(), tzinfo=EASTERN)
        carry = self.knobs.gtc_carry_over
        return [
            o
            for o in orders
            if o.created >= day_start or (carry and o.duration == "gtc" and o.status in WORKING)
        ]

    def with_tag(self, tag: str) -> list[FakeOrder]:
        with self.lock:
            return [o for orders in self._top.values() for o in orders if o.tag == tag]

    def fill(
        self,
        order_id: int,
        quantity: Decimal,
        price: Decimal,
        leg_prices: Iterable[Decimal] | None = None,
    ) -> FakeOrder:
        """Execute `quantity` at `price` (a net price for a multileg parent)."""
        with self.lock:
            order = self.get(order_id)
            if order.sparse or order.status in ("filled", "rejected", "error"):
                raise ValueError(f"order {order_id} ({order.klass}, {order.status}) cannot fill")
            before = order.exec_quantity
            now = self.clock()
            order.add_fill(quantity, price, now)
            prices = list(leg_prices or [])
            for index, leg in enumerate(order.legs):
                ratio = (leg.quantity or Decimal(1)) / (order.quantity or Decimal(1))
                leg_price = prices[index] if index < len(prices) else abs(price)
                leg.add_fill(quantity * ratio, leg_price, now)
            if order.status == "filled" and self.knobs.fill_data_lag_reads > 0:
                order.lag_reads = self.knobs.fill_data_lag_reads
                order.lag_exec = before
            self._after_child_move(order)
            self._announce(order)
            return order

    def move(self, order_id: int, status: str, reason: str | None = None) -> FakeOrder:
        """Put an order (and its legs or unfinished children) in `status`."""
        with self.lock:
            order = self.get(order_id)
            if reason is not None:
                order.reason = reason
            self._move(order, status)
            return order

    def cancel(self, order: FakeOrder) -> tuple[int, object]:
        """Answer a DELETE: an ack, or Tradier's text for an order already finished."""
        with self.lock:
            if order.finished:
                return (
                    self.knobs.finalized_cancel_status,
                    f"order already in finalized state: {order.status}",
                )
            self._move(order, "pending_cancel" if self.knobs.cancel_pending else "canceled")
            return 200, {"order": {"id": order.id, "status": "ok"}}

    def modify(self, order: FakeOrder, form: dict[str, str]) -> tuple[int, object]:
        with self.lock:
            if order.finished:
                return 400, f"order already in finalized state: {order.status}"
            order.type = form.get("type", order.type)
            order.duration = form.get("duration", order.duration)
            if "price" in form:
                order.price = Decimal(form["price"])
            if "stop" in form:
                order.stop = Decimal(form["stop"])
            order.touch(self.clock())
            self._announce(order)
            return 200, {"order": {"id": order.id, "status": "ok"}}

    def script(self, order_id: int, steps: Iterable[Step]) -> None:
        with self.lock:
            self.get(order_id).script.extend(steps)
            self._scripted.add(order_id)

    def advance(self, order_id: int) -> bool:
        """Play the order's next scripted step; False when none is left."""
        with self.lock:
            order = self.get(order_id)
            if not order.script:
                self._scripted.discard(order_id)
                return False
            step = order.script.popleft()
            if step.kind == "fill" and step.quantity is not None and step.price is not None:
                self.fill(order_id, step.quantity, step.price)
            elif step.status is not None:
                self.move(order_id, step.status, step.reason)
            if not order.script:
                self._scripted.discard(order_id)
            return True

    def tick(self) -> int:
        """Advance every scripted order one step; return how many moved."""
        with self.lock:
            return sum(self.advance(order_id) for order_id in sorted(self._scripted))

    def _move(self, order: FakeOrder, status: str, only_from: Iterable[str] = ()) -> None:
        allowed = set(only_from)
        now = self.clock()
        targets = [order, *order.legs] if order.klass in MULTILEG else [order]
        if order.sparse:
            targets += [child for child in order.legs if not child.finished]
        for target in targets:
            if allowed and (target.status not in allowed or not target.opens_when_seen):
                continue
            target.status = status
            target.touch(now)
        self._after_child_move(order)
        self._announce(order)

    def _after_child_move(self, order: FakeOrder) -> None:
        """Keep OCO/OTO groups consistent: a fill cancels the other side or releases the next."""
        parent = self.orders.get(order.parent_id) if order.parent_id else None
        if parent is None or not parent.sparse:
            return
        now = self.clock()
        first = parent.legs[0]
        for child in parent.legs:
            if child is order or child.finished:
                continue
            oco_pair = parent.klass == "oco" or (parent.klass == "otoco" and order is not first)
            if order.status == "filled" and oco_pair:
                child.status = "canceled"
                child.touch(now)
                self._announce(child)
            elif order is first and order.status == "filled" and child.status == "pending":
                child.status = "open"
                child.touch(now)
                self._announce(child)
        parent.status = _group_status(parent)
        parent.touch(now)
        self._announce(parent)

    def _announce(self, order: FakeOrder) -> None:
        self._publish(order)
        if order.klass in MULTILEG:
            for leg in order.legs:
                self._publish(leg)


def _group_status(parent: FakeOrder) -> str:
    statuses = [child.status for child in parent.legs]
    if any(status not in FINAL for status in statuses):
        return "open" if any(s != "pending" for s in statuses) else "pending"
    return "filled" if "filled" in statuses else statuses[0]


def _day(moment: datetime) -> date:
    return moment.astimezone(EASTERN).date() if moment.tzinfo else moment.replace(tzinfo=UTC).date()
