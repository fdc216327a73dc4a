"""A TWS stand-in for ib_async: the real `IB`, `Wrapper` and `Client`, minus the TCP socket.

`LoopbackClient` encodes every request as ib_async does and hands it to `FakeTws`, which
answers by calling the wrapper's callbacks exactly as ib_async's decoder would. `FakeTws` keeps
each order's true state (status word, filled, average price), so a reconnect reloads what TWS
would (open orders with their status, completed orders, the day's executions) and tests can
audit against it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ib_async import IB, Client, Contract, Execution, Order, OrderState

ACCOUNT = "DU7654321"
CLIENT_ID = 17
FINISHED = frozenset({"Filled", "Cancelled", "ApiCancelled"})  # Inactive may revive
EXECUTIONS_REQ_ID = 99


@dataclass
class TwsOrder:
    """One order as TWS itself knows it: its status word and cumulative numbers."""

    order_id: int
    perm_id: int
    contract: Contract
    order: Any
    word: str = "PreSubmitted"
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    cancel_requested: bool = False

    @property
    def quantity(self) -> Decimal:
        return Decimal(str(self.order.totalQuantity))

    @property
    def avg(self) -> float:
        return float(self.cost / self.filled) if self.filled else 0.0

    @property
    def finished(self) -> bool:
        return self.word in FINISHED


class LoopbackClient(Client):
    """ib_async's client whose socket is `FakeTws`."""

    def __init__(self, wrapper: Any, tws: FakeTws) -> None:
        super().__init__(wrapper)
        self.tws = tws

    def go_live(self, client_id: int, next_valid_id: int) -> None:
        self.connState = Client.CONNECTED
        self._apiReady = True
        self._serverVersion = 178
        self._reqIdSeq = max(self._reqIdSeq, next_valid_id)
        self.clientId = client_id

    def sendMsg(self, msg: str) -> None:
        self.tws.messages.append(msg)

    def placeOrder(self, orderId: int, contract: Contract, order: Any) -> None:
        super().placeOrder(orderId, contract, order)
        self.tws.on_place(orderId, contract, order)

    def cancelOrder(self, orderId: int, manualCancelOrderTime: str = "") -> None:
        super().cancelOrder(orderId, manualCancelOrderTime)
        self.tws.on_cancel(orderId)

    def reqExecutions(self, reqId: int, execFilter: Any) -> None:
        super().reqExecutions(reqId, execFilter)
        if self.tws.answers_executions:
            asyncio.get_running_loop().call_soon(self.tws.answer_executions, reqId)


class LoopbackIB(IB):
    """`IB` whose connect goes to `FakeTws` (startup sync included) instead of a socket."""

    tws: FakeTws

    async def connectAsync(self, host="127.0.0.1", port=7497, clientId=1, timeout=4, **_: Any):
        await asyncio.sleep(0)
        if self.tws.refuse_connections:
            raise ConnectionRefusedError(f"connect to {host}:{port} refused")
        self.tws.connect(clientId)
        return self


class FakeTws:
    """TWS's side of the conversation: acknowledgements, fills, cancels, errors, drops, reloads.

    `status` and `execute` send single callbacks as a test dictates; `fill` and the cancel
    answers move an order's true state and tell ib_async the way TWS does. While the API
    connection is down nothing is sent; the state still moves.
    """

    def __init__(self) -> None:
        self.ib = LoopbackIB()
        self.ib.tws = self
        self.ib.client = LoopbackClient(self.ib.wrapper, self)
        self.wrapper = self.ib.wrapper
        self.messages: list[str] = []
        self.auto_ack = True
        self.refuse_connections = False
        self.reject_next: str | None = None
        self.answers_executions = True  # some TWS builds never answer reqExecutions
        self.holding_cancels = False  # cancels stay PendingCancel until `confirm_cancel`
        self.duplicating = False  # every status and execution callback sent twice
        self.orders: dict[int, tuple[Contract, Any, int]] = {}  # orderId -> contract, order, perm
        self.book: dict[int, TwsOrder] = {}  # orderId -> the order's true state
        self.day_executions: list[tuple[Contract, Execution]] = []
        self.cancelled: list[int] = []
        self._perm = itertools.count(69_483_056)
        self._exec = itertools.count(1)
        self._outbox: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()

    @property
    def connected(self) -> bool:
        return bool(self.ib.client.isConnected())

    def by_perm(self, perm_id: int) -> TwsOrder:
        """The order TWS gave this `permId`."""
        return next(o for o in self.book.values() if o.perm_id == perm_id)

    # --- connection --------------------------------------------------------------------

    def connect(self, client_id: int = CLIENT_ID) -> None:
        """Come up as connectAsync does: open orders with their status, completed orders,
        then the day's executions (no events), then connected."""
        self.ib.client.go_live(client_id, max(self.book, default=99) + 1)
        self.wrapper.clientId = client_id
        self.wrapper.lastTime = datetime.now(UTC)
        self.wrapper.startReq("openOrders")
        for known in self.book.values():
            if not known.finished:
                state = OrderState(status=known.word)
                self.wrapper.openOrder(known.order_id, known.contract, known.order, state)
                self.wrapper.orderStatus(*self._status_args(known))
        self.wrapper.openOrderEnd()
        self.wrapper.startReq("completedOrders")
        for known in self.book.values():
            if known.finished:
                self.wrapper.completedOrder(known.contract, _completed(known), _state(known))
        self.wrapper.completedOrdersEnd()
        self.wrapper.startReq(EXECUTIONS_REQ_ID)
        for contract, execution in self.day_executions:
            self.wrapper.execDetails(EXECUTIONS_REQ_ID, contract, execution)
        self.wrapper._endReq(EXECUTIONS_REQ_ID)
        self.ib.connectedEvent.emit()

    def drop(self) -> None:
        """Lose the API connection: ib_async forgets every trade and fill, and what was on
        its way is lost."""
        self._outbox.clear()
        self.ib.disconnect()

    # --- answers -----------------------------------------------------------------------

    def on_place(self, order_id: int, contract: Contract, order: Any) -> None:
        if self.reject_next is not None:
            text, self.reject_next = self.reject_next, None
            self._send_later(self.error, order_id, 201, text)
        elif self.auto_ack:
            self._send_later(self.acknowledge, order_id, contract, order)

    def on_cancel(self, order_id: int) -> None:
        """TWS takes the cancel at once; what it says about it arrives a moment later."""
        self.cancelled.append(order_id)
        known = self.book.get(order_id)
        if known is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found"
            self._send_later(self.error, order_id, 10147, text)
        elif known.finished:
            text = f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: "
            self._send_later(self.error, order_id, 10148, text + known.word + ".")
        else:
            known.cancel_requested = True
            known.word = "PendingCancel"
            self._send_later(self.wrapper.orderStatus, *self._status_args(known))
            if not self.holding_cancels:
                self.confirm_cancel(order_id)

    def acknowledge(self, order_id: int, contract: Contract, order: Any) -> int:
        perm = next(self._perm)
        order.permId = perm
        self.orders[order_id] = (contract, order, perm)
        self.book[order_id] = TwsOrder(order_id, perm, contract, order)
        self.wrapper.openOrder(order_id, contract, order, OrderState(status="PreSubmitted"))
        self.status(order_id, "Submitted", 0, order.totalQuantity, 0)
        return perm

    def status(self, order_id: int, status: str, filled: float, remaining: float, avg: float):
        """Send one orderStatus; it becomes the order's true status word and numbers."""
        known = self.book.get(order_id)
        if known is not None:
            known.word = status
            if Decimal(str(filled)) != known.filled:
                known.filled = Decimal(str(filled))
                known.cost = known.filled * Decimal(str(avg))
        perm = self.orders[order_id][2]
        args = (order_id, status, filled, remaining, avg, perm, 0, avg, CLIENT_ID, "", 0.0)
        for _ in range(2 if self.duplicating else 1):
            self._send(self.wrapper.orderStatus, *args)

    def fill(self, order_id: int, quantity: Decimal, price: Decimal) -> Execution:
        """One execution, then the orderStatus that follows it (Filled once all is done)."""
        known = self.book[order_id]
        execution = self.execute(order_id, float(quantity), float(price))
        known.filled += quantity
        known.cost += quantity * price
        if known.filled >= known.quantity:
            known.word = "Filled"
        elif known.word in ("PreSubmitted", "ApiPending", "Inactive"):
            known.word = "Submitted"
        self.status(*self._status_args(known)[:5])
        return execution

    def confirm_cancel(self, order_id: int) -> None:
        """Finish a pending cancel (nothing when the order finished first)."""
        known = self.book[order_id]
        if known.cancel_requested and not known.finished:
            known.word = "Cancelled"
            self._send_later(self.wrapper.orderStatus, *self._status_args(known))

    def execute(
        self,
        order_id: int,
        shares: float,
        price: float,
        *,
        exec_id: str | None = None,
        live: bool = True,
    ) -> Execution:
        """An execution; `live=False` happens while we are disconnected (no event)."""
        contract, order, perm = self.orders[order_id]
        execution = Execution(
            execId=exec_id or f"0000e1f2.6576fd{next(self._exec):02d}.01.01",
            time=datetime.now(UTC),
            acctNumber=ACCOUNT,
            side="BOT" if order.action == "BUY" else "SLD",
            shares=shares,
            price=price,
            permId=perm,
            clientId=CLIENT_ID,
            orderId=order_id,
            orderRef=order.orderRef,
        )
        self.day_executions.append((contract, execution))
        for _ in range(2 if self.duplicating else 1) if live else ():
            self._send(self.wrapper.execDetails, -1, contract, execution)
        return execution

    def answer_executions(self, req_id: int) -> None:
        """Answer `reqExecutions`: the day's executions, then the end of the answer."""
        self.wrapper.lastTime = datetime.now(UTC)
        for contract, execution in self.day_executions:
            self.wrapper.execDetails(req_id, contract, execution)
        self.wrapper.execDetailsEnd(req_id)

    def error(self, order_id: int, code: int, text: str) -> None:
        self._send(self.wrapper.error, order_id, code, text, "")

    # --- the socket: messages arrive in the order TWS sent them ---------------------------

    def _send(self, callback: Callable[..., Any], *args: Any) -> None:
        """Deliver one message now, or behind those still on their way."""
        if self._outbox:
            self._outbox.append((callback, args))
        else:
            self._deliver(callback, args)

    def _send_later(self, callback: Callable[..., Any], *args: Any) -> None:
        """Deliver one message a moment from now (an answer to a request)."""
        self._outbox.append((callback, args))
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        while self._outbox:
            callback, args = self._outbox.popleft()
            self._deliver(callback, args)

    def _deliver(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self.connected:
            self.wrapper.lastTime = datetime.now(UTC)
            callback(*args)

    def _status_args(self, known: TwsOrder) -> tuple[Any, ...]:
        """An orderStatus telling the order's state as it is now."""
        filled, avg = float(known.filled), known.avg
        remaining = float(known.quantity - known.filled)
        word, perm = known.word, known.perm_id
        return (known.order_id, word, filled, remaining, avg, perm, 0, avg, CLIENT_ID, "", 0.0)


def _completed(known: TwsOrder) -> Order:
    """The order as TWS's completedOrder message carries it: no orderId or clientId."""
    order = known.order
    return Order(
        permId=known.perm_id,
        action=order.action,
        totalQuantity=order.totalQuantity,
        orderType=order.orderType,
        lmtPrice=order.lmtPrice,
        auxPrice=order.auxPrice,
        tif=order.tif,
        account=order.account,
        orderRef=order.orderRef,
        filledQuantity=float(known.filled),
    )


def _state(known: TwsOrder) -> OrderState:
    return OrderState(status=known.word, completedStatus=known.word)
