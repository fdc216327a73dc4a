"""A TWS stand-in for ib_async: the real `IB`, `Wrapper` and `Client`, minus the TCP socket.

`LoopbackClient` encodes every request as ib_async does and hands it to `FakeTws`, which
answers by calling the wrapper's callbacks exactly as ib_async's decoder would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from ib_async import IB, Client, Contract, Execution, OrderState

from ordertrail.brokers.tws.client import TwsBroker
from ordertrail.brokers.tws.config import TwsConfig

ACCOUNT = "DU7654321"
CLIENT_ID = 17


class LoopbackClient(Client):
    """ib_async's client whose socket is `FakeTws`."""

    def __init__(self, wrapper: Any, tws: FakeTws) -> None:
        super().__init__(wrapper)
        self.tws = tws

    def go_live(self, client_id: int) -> None:
        self.connState = Client.CONNECTED
        self._apiReady = True
        self._serverVersion = 178
        self._reqIdSeq = max(self._reqIdSeq, 100)
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
    """TWS's side of the conversation: acknowledgements, fills, errors, drops and reloads."""

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
        self.orders: dict[int, tuple[Contract, Any, int]] = {}  # orderId -> contract, order, perm
        self.day_executions: list[tuple[Contract, Execution]] = []
        self.cancelled: list[int] = []
        self._perm = itertools.count(69_483_056)
        self._exec = itertools.count(1)

    # --- connection --------------------------------------------------------------------

    def connect(self, client_id: int = CLIENT_ID) -> None:
        """Come up as connectAsync does: orders, then executions (no events), then connected."""
        self.ib.client.go_live(client_id)
        self.wrapper.clientId = client_id
        self.wrapper.lastTime = datetime.now(UTC)
        for order_id, (contract, order, _perm) in self.orders.items():
            self.wrapper.openOrder(order_id, contract, order, OrderState(status="Submitted"))
        self.wrapper.startReq(99)
        for contract, execution in self.day_executions:
            self.wrapper.execDetails(99, contract, execution)
        self.wrapper._endReq(99)
        self.ib.connectedEvent.emit()

    def drop(self) -> None:
        """Lose the API connection: ib_async forgets every trade and fill."""
        self.ib.disconnect()

    # --- answers -----------------------------------------------------------------------

    def on_place(self, order_id: int, contract: Contract, order: Any) -> None:
        if self.reject_next is not None:
            text, self.reject_next = self.reject_next, None
            asyncio.get_running_loop().call_soon(self.error, order_id, 201, text)
        elif self.auto_ack:
            asyncio.get_running_loop().call_soon(self.acknowledge, order_id, contract, order)

    def on_cancel(self, order_id: int) -> None:
        self.cancelled.append(order_id)

    def acknowledge(self, order_id: int, contract: Contract, order: Any) -> int:
        perm = next(self._perm)
        order.permId = perm
        self.orders[order_id] = (contract, order, perm)
        self.wrapper.openOrder(order_id, contract, order, OrderState(status="PreSubmitted"))
        self.status(order_id, "Submitted", 0, order.totalQuantity, 0)
        return perm

    def status(self, order_id: int, status: str, filled: float, remaining: float, avg: float):
        _contract, _order, perm = self.orders[order_id]
        self.wrapper.lastTime = datetime.now(UTC)
        self.wrapper.orderStatus(
            order_id, status, filled, remaining, avg, perm, 0, avg, CLIENT_ID, "", 0.0
        )

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
        if live:
            self.wrapper.lastTime = datetime.now(UTC)
            self.wrapper.execDetails(-1, contract, execution)
        return execution

    def answer_executions(self, req_id: int) -> None:
        """Answer `reqExecutions`: the day's executions, then the end of the answer."""
        self.wrapper.lastTime = datetime.now(UTC)
        for contract, execution in self.day_executions:
            self.wrapper.execDetails(req_id, contract, execution)
        self.wrapper.execDetailsEnd(req_id)

    def error(self, order_id: int, code: int, text: str) -> None:
        self.wrapper.lastTime = datetime.now(UTC)
        self.wrapper.error(order_id, code, text, "")


@pytest.fixture
def tws() -> FakeTws:
    return FakeTws()


@pytest.fixture
async def broker(tws: FakeTws) -> AsyncIterator[TwsBroker]:
    config = TwsConfig(account_id=ACCOUNT, client_id=CLIENT_ID, place_timeout_s=2.0)
    adapter = TwsBroker(config, ib=tws.ib)
    yield adapter
    await adapter.aclose()
