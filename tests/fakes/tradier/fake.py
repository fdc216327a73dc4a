"""`FakeTradier`: a Tradier server on a local port, and the Python API tests drive it with."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request

from tests.fakes.tradier.app import build_app
from tests.fakes.tradier.book import OrderBook
from tests.fakes.tradier.forms import check_tag
from tests.fakes.tradier.hub import StreamHub
from tests.fakes.tradier.knobs import Fault, Faults, Knobs
from tests.fakes.tradier.limits import RateLimits
from tests.fakes.tradier.orders import FakeOrder, Step
from tests.fakes.tradier.server import Server

Number = Decimal | int | str


@dataclass(frozen=True)
class RecordedRequest:
    """A call the fake received (the token itself is not kept)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    bearer: bool


class FakeTradier:
    """Tradier's order endpoints and account stream, faithful to BROKERS.md §1.10.

    `async with FakeTradier() as fake:` serves on the running loop; `with FakeTradier() as
    fake:` (or `start_in_thread()`) serves from a thread. Control it with the methods below
    or over HTTP under `/_fake/...`.
    """

    def __init__(
        self,
        *,
        token: str = "fake-tradier-token",
        accounts: Iterable[str] = ("VA00000001",),
        clock: Callable[[], datetime] | None = None,
        first_id: int = 1_000_000,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.accounts = list(accounts)
        self.account_id = self.accounts[0]
        self.clock = clock or (lambda: datetime.now(UTC))
        self.knobs = Knobs()
        self.faults = Faults()
        self.limits = RateLimits()
        self.hub = StreamHub(self.knobs, self._now, self.accounts)
        self.book = OrderBook(self.knobs, self._now, self.hub.publish, first_id)
        self.requests: deque[RecordedRequest] = deque(maxlen=5000)
        self.app = build_app(self)
        self._server = Server(self.app, host, port)
        self.host, self.port = host, self._server.port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/accounts/events"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.port}/_fake"

    async def __aenter__(self) -> FakeTradier:
        await self._server.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.hub.disconnect_all(1001)
        await self._server.stop()

    def start_in_thread(self) -> FakeTradier:
        self._server.start_in_thread()
        return self

    def stop(self) -> None:
        self.hub.disconnect_all(1001)
        self._server.stop_thread()

    def __enter__(self) -> FakeTradier:
        return self.start_in_thread()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _now(self) -> datetime:
        return self.clock()

    # orders

    def create_order(
        self,
        symbol: str = "AAPL",
        side: str = "buy",
        quantity: Number = 1,
        type: str = "market",
        *,
        klass: str | None = None,
        price: Number | None = None,
        stop: Number | None = None,
        option_symbol: str | None = None,
        duration: str = "day",
        tag: str | None = None,
        account: str | None = None,
        status: str = "open",
        created: datetime | None = None,
    ) -> int:
        """Put an order in "by hand" (as if placed on Tradier's site); return its id."""
        if tag is not None:
            check_tag({"tag": tag})
        order = FakeOrder(
            id=self.book.new_id(),
            account=account or self.account_id,
            klass=klass or ("option" if option_symbol else "equity"),
            created=created or self._now(),
            symbol=symbol,
            side=side,
            quantity=Decimal(str(quantity)),
            type=type,
            duration=duration,
            price=_dec(price),
            stop=_dec(stop),
            option_symbol=option_symbol,
            tag=tag,
            opens_when_seen=False,
        )
        return self.book.add(order, status=status).id

    def order(self, order_id: int) -> FakeOrder:
        return self.book.get(order_id)

    def order_view(self, order_id: int) -> dict[str, Any]:
        """The order as GET would show it (tags included), without using up any lag."""
        return self.book.get(order_id).view(tags=True)

    def orders_with_tag(self, tag: str) -> list[FakeOrder]:
        return self.book.with_tag(tag)

    def fill(
        self,
        order_id: int,
        quantity: Number,
        price: Number,
        leg_prices: Iterable[Number] | None = None,
    ) -> FakeOrder:
        """Execute `quantity` more at `price` (also on a cancelled or expired order)."""
        legs = [Decimal(str(p)) for p in leg_prices] if leg_prices else None
        return self.book.fill(order_id, Decimal(str(quantity)), Decimal(str(price)), legs)

    def set_status(self, order_id: int, status: str, reason: str | None = None) -> FakeOrder:
        return self.book.move(order_id, status, reason)

    def open(self, order_id: int) -> FakeOrder:
        return self.book.move(order_id, "open")

    def cancel(self, order_id: int) -> FakeOrder:
        return self.book.move(order_id, "canceled")

    def confirm_cancel(self, order_id: int) -> FakeOrder:
        return self.book.move(order_id, "canceled")

    def expire(self, order_id: int) -> FakeOrder:
        return self.book.move(order_id, "expired")

    def reject(self, order_id: int, reason: str = "Order rejected") -> FakeOrder:
        return self.book.move(order_id, "rejected", reason)

    def script(self, order_id: int, steps: Iterable[Step]) -> None:
        """Queue an order's path, e.g. `[Step.fill(40, "10.00"), Step.fill(60, "10.10")]`."""
        self.book.script(order_id, steps)

    def advance(self, order_id: int) -> bool:
        return self.book.advance(order_id)

    def tick(self) -> int:
        return self.book.tick()

    # faults and knobs

    def inject(
        self, fault: Fault | str, times: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next `times` matching API calls with `fault`."""
        self.faults.inject(fault, times, method, path)

    def lose_next_place(self, mode: Fault | str = Fault.GATEWAY_TIMEOUT) -> None:
        """Create the next placed order but lose the answer: 504, `hang` or `drop`."""
        self.faults.lost_place = Fault(mode)

    def refuse_next_place(self, errors: str | list[str], status: int = 200) -> None:
        """Refuse the next place with `{"errors": ...}` and no id (HTTP 200 or 400)."""
        self.faults.refusal = (status, [errors] if isinstance(errors, str) else list(errors))

    def reject_next_place(self, reason: str) -> None:
        """Accept the next place, then show the order `rejected` with `reason`."""
        self.faults.reject_reason = reason

    def set_knobs(self, **values: Any) -> None:
        self.knobs.update(values)

    def set_limits(self, window_s: float | None = None, **limits: int) -> None:
        """Set per-window budgets (`standard`, `trading`) and the window length."""
        self.limits.configure(window_s, **limits)

    def disconnect_streams(self) -> int:
        count = self.hub.subscribers
        self.hub.disconnect_all(1011)
        return count

    def release_held_event(self) -> None:
        self.hub.release_held()

    @property
    def stream_subscribers(self) -> int:
        return self.hub.subscribers

    def reset(self) -> None:
        """Forget orders, faults, sessions and requests; knobs and limits back to defaults."""
        self.hub.reset()
        self.book.reset()
        self.faults.clear()
        self.limits.reset()
        self.knobs.update(asdict(Knobs()))
        self.requests.clear()

    def state(self) -> dict[str, Any]:
        return {
            "orders": len(self.book.orders),
            "subscribers": self.hub.subscribers,
            "sessions_created": self.hub.sessions_created,
            "knobs": asdict(self.knobs),
        }

    # requests

    def record(self, request: Request, body: bytes) -> None:
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        bearer = request.headers.get("authorization", "").startswith("Bearer ")
        query = dict(request.query_params)
        self.requests.append(
            RecordedRequest(request.method, request.url.path, query, headers, body, bearer)
        )

    def requests_to(self, method: str, path_part: str = "") -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.method == method and path_part in r.path]

    def request_log(self) -> list[dict[str, Any]]:
        return [{"method": r.method, "path": r.path, "query": r.query} for r in list(self.requests)]


def _dec(value: Number | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))
