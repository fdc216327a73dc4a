"""The fake gateway's order book: contracts, session-scoped orders, executions, pushes."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tests.fakes.ibkr import rows
from tests.fakes.ibkr.model import Contract, FakeExecution, FakeOrder, Knobs

Publish = Callable[[str, list[dict[str, Any]]], None]
Schedule = Callable[[float, Callable[[], None]], None]

DEFAULT_CONTRACTS = (
    Contract(265598, "AAPL", company="APPLE INC"),
    Contract(756733, "SPY", company="SPDR S&P 500 ETF TRUST", exchange="ARCA"),
    Contract(76792991, "TSLA", company="TESLA INC"),
)


class Book:
    """Everything the gateway knows; every change pushes the `sor`/`str` frames it causes."""

    def __init__(self, account_id: str, knobs: Knobs) -> None:
        self.account_id = account_id
        self.knobs = knobs
        self.lock = threading.RLock()
        self.contracts: dict[int, Contract] = {c.conid: c for c in DEFAULT_CONTRACTS}
        self.orders: dict[int, FakeOrder] = {}
        self.executions: list[FakeExecution] = []
        self.session = 1
        self.session_token = secrets.token_hex(16)
        self.sor_snapshot_sent = False
        self.sor_muted = False
        self._ids = itertools.count(1_370_000_000)
        self._exec_seq = itertools.count(1)
        self.publish: Publish = lambda topic, args: None
        self.schedule: Schedule = lambda delay, fn: fn()
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)

    # --- contracts ---------------------------------------------------------------------

    def add_stock(self, conid: int, symbol: str, company: str = "") -> Contract:
        with self.lock:
            contract = Contract(conid, symbol.upper(), company=company or symbol.upper())
            self.contracts[conid] = contract
            return contract

    def add_option(
        self,
        conid: int,
        symbol: str,
        expiry: date,
        strike: Decimal,
        right: str,
        underlying_conid: int | None = None,
    ) -> Contract:
        with self.lock:
            contract = Contract(
                conid,
                symbol.upper(),
                sec_type="OPT",
                company=symbol.upper(),
                exchange="SMART",
                expiry=expiry,
                strike=Decimal(strike),
                right=right.upper()[:1],
                underlying_conid=underlying_conid or self._stock_conid(symbol),
            )
            self.contracts[conid] = contract
            return contract

    def _stock_conid(self, symbol: str) -> int | None:
        for contract in self.contracts.values():
            if contract.sec_type == "STK" and contract.symbol == symbol.upper():
                return contract.conid
        return None

    # --- orders ------------------------------------------------------------------------

    def new_order(
        self,
        contract: Contract,
        *,
        side: str,
        quantity: Decimal,
        order_type: str = "LMT",
        price: Decimal | None = None,
        aux_price: Decimal | None = None,
        tif: str = "DAY",
        order_ref: str | None = None,
        account: str | None = None,
        status: str = "PendingSubmit",
        parent_id: int | None = None,
        publish: bool = True,
    ) -> FakeOrder:
        """Record an order (placed over REST or by hand) and push its full row."""
        with self.lock:
            order = FakeOrder(
                order_id=next(self._ids),
                account=account or self.account_id,
                contract=contract,
                side=side.upper(),
                quantity=Decimal(quantity),
                order_type=order_type,
                tif=tif,
                status=status,
                session=self.session,
                updated_at=self.now(),
                price=None if price is None else Decimal(price),
                aux_price=aux_price,
                order_ref=order_ref,
                parent_id=parent_id,
            )
            self.orders[order.order_id] = order
            if publish:
                self.push_rows([order])
            return order

    def push_rows(self, orders: Iterable[FakeOrder], then: Iterable[str] = ()) -> None:
        """Push full rows, followed by status deltas for each order (one frame)."""
        args: list[dict[str, Any]] = []
        for order in orders:
            args.append(rows.order_row(order, price_as_number=self.knobs.ws_price_as_number))
            args.extend(rows.status_delta(order, status) for status in then)
        if args:
            self.publish("sor", args)

    def work(self, order: FakeOrder, steps: Iterable[str], *, full_row: bool = False) -> None:
        """Move an order through statuses in one frame (PendingSubmit → PreSubmitted → ...),
        after its full row when `full_row` (a new order)."""
        with self.lock:
            args = []
            if full_row:
                args.append(rows.order_row(order, price_as_number=self.knobs.ws_price_as_number))
            for status in steps:
                order.status = status
                args.append(rows.status_delta(order))
            order.updated_at = self.now()
            self.publish("sor", args)

    def live(self, order_id: int) -> FakeOrder | None:
        """The order if this session knows it."""
        order = self.orders.get(order_id)
        return order if order is not None and order.session == self.session else None

    def session_orders(self) -> list[FakeOrder]:
        with self.lock:
            mine = [o for o in self.orders.values() if o.session == self.session]
        limit = self.knobs.max_rows
        if limit is not None and len(mine) > limit:
            mine = sorted(mine, key=lambda o: o.updated_at)[-limit:]
        return mine

    def fill(self, order_id: int, fills: Iterable[tuple[Decimal, Decimal]]) -> list[str]:
        """Execute quantities at prices; push one `sor` frame and one `str` frame."""
        with self.lock:
            order = self.orders[order_id]
            deltas, trades, ids = [], [], []
            for quantity, price in fills:
                quantity, price = Decimal(quantity), Decimal(price)
                before = order.status
                order.filled += quantity
                order.notional += quantity * price
                order.updated_at = self.now()
                if order.filled >= order.quantity:
                    order.status = "Filled"
                execution = FakeExecution(
                    self._execution_id(order), order, quantity, price, order.updated_at
                )
                # Encoded now, a little at each fill: a day's trades answer runs to megabytes,
                # and building it whole for each poll held this server's event loop (and its
                # websocket) for a third of a second at ten thousand executions.
                execution.row_text = rows.trade_text(execution)
                self.executions.append(execution)
                ids.append(execution.execution_id)
                deltas.append(rows.fill_delta(order, order.status != before))
                trades.append(
                    rows.trade_row(execution, websocket=True, order_id=self.knobs.str_order_id)
                )
            self.publish("sor", deltas)
            self.publish("str", trades)
            return ids

    def set_status(self, order_id: int, status: str, reason: str | None = None) -> None:
        with self.lock:
            order = self.orders[order_id]
            order.status = status
            order.reason = reason or order.reason
            order.updated_at = self.now()
            self.publish("sor", [rows.status_delta(order)])

    def request_cancel(self, order: FakeOrder) -> None:
        """Cancel as the gateway does: PendingCancel now, Cancelled later (or at once)."""
        with self.lock:
            if not order.working:
                return
            if self.knobs.cancel_mode == "immediate":
                self.set_status(order.order_id, "Cancelled")
                return
            self.set_status(order.order_id, "PendingCancel")
            if self.knobs.cancel_delay_s is not None:
                self.schedule(
                    self.knobs.cancel_delay_s, lambda: self.complete_cancel(order.order_id)
                )

    def complete_cancel(self, order_id: int) -> None:
        """Finish a pending cancel (a fill may have finished the order first)."""
        with self.lock:
            if self.orders[order_id].status == "PendingCancel":
                self.set_status(order_id, "Cancelled")

    def new_session(self) -> None:
        """Start a new brokerage session: earlier orders vanish from lists and lookups."""
        with self.lock:
            self.session += 1
            self.session_token = secrets.token_hex(16)
            self.sor_snapshot_sent = False
            self.sor_muted = False

    def snapshot_rows(self) -> list[dict[str, Any]]:
        return [
            rows.order_row(o, price_as_number=self.knobs.ws_price_as_number)
            for o in self.session_orders()
        ]

    def trades_since(self, days: int) -> list[FakeExecution]:
        today = self.now().date()
        with self.lock:
            return [e for e in self.executions if (today - e.at.date()).days < max(days, 1)]

    def _execution_id(self, order: FakeOrder) -> str:
        return f"0000e0d5.{order.order_id:08x}.{next(self._exec_seq):02x}.01"
