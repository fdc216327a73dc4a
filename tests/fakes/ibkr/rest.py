"""The fake gateway's REST routes under `/v1/api`, with faults, pacing and call counts."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.ibkr import rows
from tests.fakes.ibkr.book import Book
from tests.fakes.ibkr.placing import OrderEntry

FILTERS = {
    "inactive": {"Inactive"},
    "pending_submit": {"PendingSubmit"},
    "pre_submitted": {"PreSubmitted"},
    "submitted": {"Submitted"},
    "filled": {"Filled"},
    "pending_cancel": {"PendingCancel"},
    "pre_cancelled": {"PreCancelled"},
    "cancelled": {"Cancelled"},
    "warn_state": {"WarnState"},
    "sort_by_time": set(),
}
Handler = Callable[[Request], Awaitable[tuple[int, Any]]]


class Encoded(str):
    """A body already encoded as JSON text, sent as it is."""


class Rest:
    """Route handlers over the book; `calls` counts requests by name for assertions."""

    def __init__(self, book: Book, entry: OrderEntry) -> None:
        self.book = book
        self.entry = entry
        self.calls: Counter[str] = Counter()
        self.faults: list[list[Any]] = []  # [count, status, path prefix]
        self.orders_served = 0
        self.trades_served = 0
        self._last_orders: float | None = None

    def routes(self) -> list[Route]:
        def route(path: str, name: str, handler: Handler, methods: list[str]) -> Route:
            return Route(path, self._wrap(name, handler), methods=methods)

        return [
            route("/v1/api/tickle", "tickle", self.tickle, ["POST", "GET"]),
            route("/v1/api/iserver/auth/status", "auth_status", self.auth_status, ["POST", "GET"]),
            route("/v1/api/iserver/accounts", "accounts", self.accounts, ["GET"]),
            route("/v1/api/iserver/account/orders", "orders", self.orders, ["GET"]),
            route("/v1/api/iserver/account/trades", "trades", self.trades, ["GET"]),
            route(
                "/v1/api/iserver/account/order/status/{order_id}",
                "order_status",
                self.order_status,
                ["GET"],
            ),
            route("/v1/api/iserver/account/{acct}/orders", "place", self.place, ["POST"]),
            route("/v1/api/iserver/reply/{reply_id}", "reply", self.reply, ["POST"]),
            route("/v1/api/iserver/notification", "notification", self.notification, ["POST"]),
            route(
                "/v1/api/iserver/account/{acct}/order/{order_id}", "cancel", self.cancel, ["DELETE"]
            ),
            route("/v1/api/iserver/secdef/search", "secdef_search", self.secdef_search, ["GET"]),
            route("/v1/api/iserver/secdef/info", "secdef_info", self.secdef_info, ["GET"]),
        ]

    def _wrap(self, name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.calls[name] += 1
            if name == "orders" and request.query_params.get("force") == "true":
                self.calls["orders_force"] += 1
            fault = self._fault(request.url.path)
            if fault is not None:
                return JSONResponse({"error": "Service Unavailable", "statusCode": fault}, fault)
            if name not in ("tickle", "auth_status") and not self.book.knobs.authenticated:
                return JSONResponse({"error": "not authenticated", "statusCode": 401}, 401)
            dropping = self.book.knobs.drop_pending_on_other_request
            if name not in ("reply", "tickle") and self.entry.pending and dropping:
                self.entry.drop_pending()
            status, body = await handler(request)
            if isinstance(body, Encoded):
                return Response(body, status, media_type="application/json")
            return JSONResponse(body, status)

        return endpoint

    def _fault(self, path: str) -> int | None:
        for fault in self.faults:
            if fault[0] > 0 and path.removeprefix("/v1/api").startswith(fault[2]):
                fault[0] -= 1
                return int(fault[1])
        return None

    # --- session -----------------------------------------------------------------------

    def _auth(self) -> dict[str, Any]:
        ok = self.book.knobs.authenticated
        return {
            "authenticated": ok,
            "established": ok,
            "competing": False,
            "connected": True,
            "message": "",
            "MAC": "98:F2:B3:23:BF:A0",
            "serverInfo": {"serverName": "FakeGw", "serverVersion": "Build 10.25.0p"},
        }

    async def tickle(self, request: Request) -> tuple[int, Any]:
        return 200, {
            "session": self.book.session_token,
            "ssoExpires": 460311,
            "collission": False,
            "userId": 123456789,
            "hmds": {"error": "no bridge"},
            "iserver": {"authStatus": self._auth()},
        }

    async def auth_status(self, request: Request) -> tuple[int, Any]:
        return 200, {**self._auth(), "fail": ""}

    async def accounts(self, request: Request) -> tuple[int, Any]:
        account = self.book.account_id
        return 200, {
            "accounts": [account],
            "aliases": {account: account},
            "selectedAccount": account,
            "isPaper": True,
        }

    # --- reads -------------------------------------------------------------------------

    async def orders(self, request: Request) -> tuple[int, Any]:
        knobs, book = self.book.knobs, self.book
        now = time.monotonic()
        interval = knobs.orders_min_interval_s
        last = self._last_orders
        if interval is not None and last is not None and now - last < interval:
            return 429, {"error": "Too Many Requests", "statusCode": 429}
        self._last_orders = now
        if request.query_params.get("force") == "true":
            book.sor_muted = False
            return 200, {"orders": [], "snapshot": False}
        filters = request.query_params.get("filters")
        if filters is not None and filters != filters.lower():
            return 500, {"error": "Internal Server Error", "statusCode": 500}
        self.orders_served += 1
        if knobs.empty_first_orders_call and self.orders_served == 1:
            return 200, {"orders": [], "snapshot": True}
        orders = book.session_orders()
        account = request.query_params.get("accountId")
        if account:
            orders = [o for o in orders if o.account == account]
        if filters is not None:
            book.sor_muted = True
            wanted = set().union(*(FILTERS.get(f.strip(), set()) for f in filters.split(",")))
            orders = (
                []
                if knobs.filtered_answers_empty
                else [o for o in orders if not wanted or o.status in wanted]
            )
        return 200, {"orders": [rows.order_row(o) for o in orders], "snapshot": True}

    async def trades(self, request: Request) -> tuple[int, Any]:
        self.trades_served += 1
        if self.book.knobs.empty_first_trades_call and self.trades_served == 1:
            return 200, []
        days = int(request.query_params.get("days") or 1)
        executions = self.book.trades_since(min(days, 7))
        return 200, Encoded("[" + ",".join(e.row_text for e in executions) + "]")

    async def order_status(self, request: Request) -> tuple[int, Any]:
        order_id = request.path_params["order_id"]
        order = self.book.live(int(order_id)) if order_id.isdigit() else None
        if order is None:
            return 503, {"error": f"Order {order_id} is not found", "statusCode": 503}
        return 200, rows.order_status(order)

    async def secdef_search(self, request: Request) -> tuple[int, Any]:
        symbol = (request.query_params.get("symbol") or "").upper()
        found = [
            c for c in self.book.contracts.values() if c.sec_type == "STK" and c.symbol == symbol
        ]
        return 200, [
            {
                "conid": str(c.conid),
                "companyName": c.company,
                "symbol": c.symbol,
                "sections": [{"secType": "STK"}, {"secType": "OPT"}],
            }
            for c in found
        ]

    async def secdef_info(self, request: Request) -> tuple[int, Any]:
        params = request.query_params
        conid = int(params.get("conid") or 0)
        contracts = self.book.contracts
        if conid in contracts and contracts[conid].sec_type == "OPT":
            matches = [contracts[conid]]
        else:
            month, strike, right = params.get("month"), params.get("strike"), params.get("right")
            matches = [
                c
                for c in contracts.values()
                if c.sec_type == "OPT"
                and c.underlying_conid == conid
                and (not month or f"{c.expiry:%b%y}".upper() == month.upper())
                and (not strike or c.strike == _number(strike))
                and (not right or c.right == right.upper()[:1])
            ]
        return 200, [_secdef(c) for c in matches]

    # --- writes ------------------------------------------------------------------------

    async def place(self, request: Request) -> tuple[int, Any]:
        body = await _json(request)
        with self.book.lock:
            return self.entry.place(request.path_params["acct"], body)

    async def reply(self, request: Request) -> tuple[int, Any]:
        body = await _json(request)
        with self.book.lock:
            return self.entry.reply(request.path_params["reply_id"], body)

    async def notification(self, request: Request) -> tuple[int, Any]:
        body = await _json(request)
        with self.book.lock:
            return self.entry.answer_prompt(body)

    async def cancel(self, request: Request) -> tuple[int, Any]:
        order_id = request.path_params["order_id"]
        try:
            number = int(order_id)
        except ValueError:
            return 400, {"error": f"Bad Request: order id {order_id!r}", "statusCode": 400}
        return self.entry.cancel(request.path_params["acct"], number)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def _number(text: str) -> Any:
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _secdef(contract: Any) -> dict[str, Any]:
    return {
        "conid": contract.conid,
        "symbol": contract.symbol,
        "secType": "OPT",
        "exchange": "SMART",
        "listingExchange": None,
        "right": contract.right,
        "strike": float(contract.strike),
        "currency": "USD",
        "cusip": None,
        "coupon": "No Coupon",
        "desc1": contract.symbol,
        "desc2": contract.description2,
        "maturityDate": f"{contract.expiry:%Y%m%d}",
        "multiplier": "100",
        "tradingClass": contract.symbol,
        "validExchanges": "SMART,CBOE,PSE,ISE,BOX",
    }
