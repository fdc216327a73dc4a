"""FakeIbkrGateway: a Client Portal gateway on 127.0.0.1 (real HTTP and websocket) for tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from tests.fakes.ibkr.book import Book
from tests.fakes.ibkr.control import control_routes
from tests.fakes.ibkr.model import FakeOrder, Knobs
from tests.fakes.ibkr.placing import OrderEntry
from tests.fakes.ibkr.rest import Rest
from tests.fakes.ibkr.ws import Hub


class FakeIbkrGateway:
    """`async with FakeIbkrGateway() as gw:` serves `gw.base_url` and `gw.ws_url`.

    Knobs (see `Knobs`) can be passed as keyword arguments or changed with `gw.set(...)`.
    Non-async users call `gw.start_in_thread()` / `gw.stop_thread()`.
    """

    def __init__(
        self, *, account_id: str = "DU1234567", host: str = "127.0.0.1", port: int = 0, **knobs: Any
    ) -> None:
        self.knobs = Knobs(**knobs)
        self.book = Book(account_id, self.knobs)
        self.entry = OrderEntry(self.book)
        self.rest = Rest(self.book, self.entry)
        self.hub = Hub(self.book)
        self.book.publish = self.hub.publish
        self.app = Starlette(
            routes=[
                *self.rest.routes(),
                WebSocketRoute("/v1/api/ws", self.hub.endpoint),
                *control_routes(self),
            ]
        )
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self.book.account_id

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1/api"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/api/ws"

    async def start(self) -> FakeIbkrGateway:
        # IPPROTO_TCP named, not left 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only
        # on sockets that say they are TCP. With it on, frames sat up to 40 ms behind the
        # client's delayed acknowledgements, as no real gateway's do.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)  # connections queue until uvicorn accepts them
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.book.schedule = lambda delay, fn: loop.call_soon_threadsafe(loop.call_later, delay, fn)
        # `_serve`, not `serve`: the public one installs signal handlers in the test process
        self._task = asyncio.create_task(self._server._serve(sockets=[sock]))
        return self

    async def stop(self) -> None:
        self.hub.drop_all()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None

    async def __aenter__(self) -> FakeIbkrGateway:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self) -> FakeIbkrGateway:
        """Serve from a background thread (for code outside an event loop)."""
        started = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            assert self._task is not None
            loop.run_until_complete(self._task)

        self._thread = threading.Thread(target=run, name="fake-ibkr-gateway", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self.hub.drop_all()
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(10)
        self._thread = None

    async def serve_forever(self) -> None:
        await self.start()
        assert self._task is not None
        await self._task

    # --- control: orders ---------------------------------------------------------------

    def create_order(
        self,
        *,
        symbol: str = "AAPL",
        side: str = "BUY",
        quantity: Decimal | int = 1,
        order_type: str = "LMT",
        price: Decimal | str | None = None,
        tif: str = "DAY",
        order_ref: str | None = None,
        account: str | None = None,
        status: str | None = None,
        conid: int | None = None,
        expiry: date | None = None,
        strike: Decimal | str | None = None,
        right: str | None = None,
    ) -> int:
        """Create an order as if placed elsewhere (TWS, the web): no `cOID` unless given."""
        with self.book.lock:
            contract = self._contract(symbol, conid, expiry, strike, right)
            order = self.book.new_order(
                contract,
                side=side,
                quantity=Decimal(quantity),
                order_type=order_type,
                price=None if price is None else Decimal(price),
                tif=tif,
                order_ref=order_ref,
                account=account,
                status=status or self.knobs.working_status,
            )
            return order.order_id

    def create_orders(self, count: int, **fields: Any) -> list[int]:
        """Create many orders quickly (one `sor` frame for all)."""
        with self.book.lock:
            contract = self._contract(fields.pop("symbol", "AAPL"), None, None, None, None)
            made = [
                self.book.new_order(
                    contract,
                    side=fields.get("side", "BUY"),
                    quantity=Decimal(fields.get("quantity", 1)),
                    price=Decimal(fields.get("price", "1.00")),
                    status=self.knobs.working_status,
                    publish=False,
                )
                for _ in range(count)
            ]
            self.book.push_rows(made)
            return [o.order_id for o in made]

    def order(self, order_id: int) -> FakeOrder:
        return self.book.orders[order_id]

    def order_by_ref(self, order_ref: str) -> FakeOrder:
        return next(o for o in self.book.orders.values() if o.order_ref == order_ref)

    def fill(self, order_id: int, quantity: Decimal | int, price: Decimal | str) -> list[str]:
        """Execute `quantity` at `price`; returns the new execution ids."""
        return self.book.fill(order_id, [(Decimal(quantity), Decimal(price))])

    def fill_many(self, order_id: int, fills: Iterable[tuple[Any, Any]]) -> list[str]:
        """Several executions pushed together (one `sor` frame of deltas, one `str` frame)."""
        return self.book.fill(order_id, [(Decimal(q), Decimal(p)) for q, p in fills])

    def cancel(self, order_id: int) -> None:
        """Cancel as a user elsewhere would (PendingCancel, then Cancelled per the knobs)."""
        self.book.request_cancel(self.book.orders[order_id])

    def complete_cancel(self, order_id: int) -> None:
        self.book.complete_cancel(order_id)

    def expire(self, order_id: int) -> None:
        self.book.set_status(order_id, "Cancelled", "Cancelled by System: order expired")

    def reject(self, order_id: int, text: str) -> None:
        self.book.set_status(order_id, "Cancelled", text)

    def set_status(self, order_id: int, status: str) -> None:
        self.book.set_status(order_id, status)

    def add_option(self, conid: int, symbol: str, expiry: date, strike: Any, right: str) -> None:
        self.book.add_option(conid, symbol, expiry, Decimal(str(strike)), right)

    # --- control: answers and faults ---------------------------------------------------

    def ask_on_next_place(self, *message_ids: str) -> None:
        """Make the next placement ask these questions one after another."""
        self.entry.next_questions = list(message_ids)

    def reject_next_place(self, text: str) -> None:
        self.entry.next_error = text

    def prompt_next_place(self) -> None:
        self.entry.next_prompt = True

    def fail_next_bracket_child(self, text: str) -> None:
        self.entry.next_child_failure = text

    def fail_next(self, count: int = 1, status: int = 503, path: str = "") -> None:
        """Answer the next `count` REST calls under `path` with `status`."""
        self.rest.faults.append([count, status, path])

    def set(self, **knobs: Any) -> None:
        for name, value in knobs.items():
            if not hasattr(self.knobs, name):
                raise AttributeError(f"no knob {name}")
            setattr(self.knobs, name, value)

    def new_session(self) -> None:
        self.book.new_session()

    def warm_up_again(self) -> None:
        """Make the next orders and trades calls a session's first again (empty, with the
        `empty_first_*` knobs): a fresh client on the same session."""
        self.rest.orders_served = self.rest.trades_served = 0

    def drop_websockets(self) -> None:
        self.hub.drop_all()

    def push_frame(self, frame: dict[str, Any]) -> None:
        self.hub.push_raw(frame)

    @property
    def calls(self) -> Any:
        return self.rest.calls

    @property
    def websockets(self) -> int:
        return self.hub.authenticated_count

    def describe(self) -> dict[str, Any]:
        return {
            "session": self.book.session,
            "orders": len(self.book.orders),
            "executions": len(self.book.executions),
            "websockets": self.websockets,
            "calls": dict(self.rest.calls),
        }

    def _contract(
        self, symbol: str, conid: int | None, expiry: date | None, strike: Any, right: str | None
    ) -> Any:
        if expiry is not None and strike is not None and right is not None:
            known = self.book.contracts.get(conid) if conid else None
            if known is not None:
                return known
            conid = conid or 800_000_000 + len(self.book.contracts)
            return self.book.add_option(conid, symbol, expiry, Decimal(str(strike)), right)
        if conid is not None and conid in self.book.contracts:
            return self.book.contracts[conid]
        for contract in self.book.contracts.values():
            if contract.sec_type == "STK" and contract.symbol == symbol.upper():
                return contract
        return self.book.add_stock(conid or 900_000_000 + len(self.book.contracts), symbol)
