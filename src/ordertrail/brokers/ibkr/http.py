"""Raw Client Portal REST calls, one per endpoint, with pacing, retries and clear errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.slices import loads, loads_in_slices
from ordertrail.errors import (
    BrokerAuthError,
    BrokerError,
    BrokerRejected,
    BrokerUnavailable,
    RateLimited,
)

log = logging.getLogger(__name__)

BROKER = "ibkr"
SLICED_FROM = 64 * 1024  # bodies from this size are decoded in slices (see slices.py)
Sleep = Callable[[float], Awaitable[None]]
Passthrough = Callable[[httpx.Response], bool]


class IbkrHttp:
    """Endpoint-named calls on an injected `httpx.AsyncClient`; bodies come back as parsed JSON.

    Reads are retried with backoff on 5xx and transport errors; writes never are (their
    outcome would be unknown). A 429 blocks further calls for `rate_limit_backoff_s`.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: IbkrConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._config = config
        self._sleep = sleep
        self._monotonic = monotonic
        self._blocked_until = 0.0
        self._orders_lock = asyncio.Lock()
        self._last_orders_at: float | None = None
        self._gate = asyncio.Lock()
        self._gate_owner: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the account to this task: other calls wait (a place/reply chain must not be
        interleaved with other requests, or the gateway may drop the pending order)."""
        async with self._gate:
            self._gate_owner = asyncio.current_task()
            try:
                yield
            finally:
                self._gate_owner = None

    # --- session -------------------------------------------------------------------------

    async def tickle(self) -> Any:
        """POST /tickle: keep the session alive; the answer holds the websocket session token."""
        return await self._call("POST", "/tickle", read=True)

    async def auth_status(self) -> Any:
        """POST /iserver/auth/status: is the brokerage session authenticated?"""
        return await self._call("POST", "/iserver/auth/status", read=True)

    async def accounts(self) -> Any:
        """GET /iserver/accounts: the pre-flight call before order endpoints and `sor`."""
        return await self._call("GET", "/iserver/accounts", read=True)

    # --- reads ---------------------------------------------------------------------------

    async def orders(self, *, force: bool = False) -> Any:
        """GET /iserver/account/orders, unfiltered (filters mute `sor`), paced."""
        async with self._orders_lock:
            await self._pace_orders()
            params = {"force": "true"} if force else None
            try:
                return await self._call("GET", "/iserver/account/orders", params=params, read=True)
            finally:
                self._last_orders_at = self._monotonic()

    async def trades(self, days: int) -> Any:
        """GET /iserver/account/trades?days=N (N at most 7)."""
        days = max(1, min(days, self._config.trades_max_days))
        return await self._call(
            "GET", "/iserver/account/trades", params={"days": str(days)}, read=True
        )

    async def order_status(self, order_id: str) -> Any | None:
        """GET /iserver/account/order/status/{id}; None when the gateway says it is not found."""
        response = await self._send(
            "GET", f"/iserver/account/order/status/{order_id}", read=True, passthrough=_not_found
        )
        if _not_found(response):
            return None
        return _body(response)

    async def secdef_search(self, symbol: str) -> Any:
        """GET /iserver/secdef/search?symbol=..."""
        return await self._call(
            "GET", "/iserver/secdef/search", params={"symbol": symbol}, read=True
        )

    async def secdef_info(self, conid: str, sectype: str = "OPT", **params: str) -> Any:
        """GET /iserver/secdef/info?conid=...&sectype=...[&month=&strike=&right=]."""
        query = {"conid": conid, "sectype": sectype, **params}
        return await self._call("GET", "/iserver/secdef/info", params=query, read=True)

    # --- writes --------------------------------------------------------------------------

    async def place_orders(self, account_id: str, tickets: list[dict[str, Any]]) -> Any:
        """POST /iserver/account/{acct}/orders with `{"orders": [...]}` (never retried)."""
        return await self._call(
            "POST", f"/iserver/account/{account_id}/orders", json={"orders": tickets}
        )

    async def reply(self, reply_id: str, confirmed: bool) -> Any:
        """POST /iserver/reply/{id} `{"confirmed": ...}`: answer one question."""
        return await self._call("POST", f"/iserver/reply/{reply_id}", json={"confirmed": confirmed})

    async def answer_prompt(self, order_id: str, req_id: str, text: str) -> Any:
        """POST /iserver/notification: answer an advanced-order-reject prompt with one option."""
        body = {"orderId": int(order_id), "reqId": req_id, "text": text}
        response = await self._send("POST", "/iserver/notification", json=body)
        try:
            return _body(response)
        except BrokerUnavailable:
            return response.text  # some builds answer with bare text

    async def cancel(self, account_id: str, order_id: str) -> Any:
        """DELETE /iserver/account/{acct}/order/{id}; `-1` (cancel everything) is refused here."""
        if order_id.strip() in ("-1", "") or not order_id.strip().isdigit():
            raise BrokerRejected(
                f"refusing to cancel IBKR order id {order_id!r}: -1 would cancel every open order",
                broker=BROKER,
            )
        response = await self._send(
            "DELETE", f"/iserver/account/{account_id}/order/{order_id}", passthrough=_error_400
        )
        return _body(response)

    # --- plumbing ------------------------------------------------------------------------

    async def _pace_orders(self) -> None:
        if self._last_orders_at is None:
            return
        wait = self._config.orders_min_interval_s - (self._monotonic() - self._last_orders_at)
        if wait > 0:
            await self._sleep(wait)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        read: bool = False,
    ) -> Any:
        response = await self._send(method, path, params=params, json=json, read=read)
        if len(response.content) < SLICED_FROM:
            return _body(response)
        try:  # a day's trades can be megabytes: decoded in slices, the stream keeps flowing
            return await loads_in_slices(response.text)
        except ValueError as error:
            raise _not_json(response) from error

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        read: bool = False,
        passthrough: Passthrough | None = None,
    ) -> httpx.Response:
        attempts = 1 + (self._config.read_retries if read else 0)
        for attempt in range(attempts):
            self._check_blocked(path)
            last = attempt == attempts - 1
            try:
                response = await self._request(method, path, params, json)
            except httpx.TimeoutException as error:
                if last:
                    raise BrokerUnavailable(
                        f"IBKR {method} {path} timed out; the outcome is unknown", broker=BROKER
                    ) from error
            except httpx.TransportError as error:
                if last:
                    raise BrokerUnavailable(
                        f"IBKR gateway unreachable at {self._config.api_url}: {error}",
                        broker=BROKER,
                    ) from error
            else:
                if passthrough is not None and passthrough(response):
                    return response
                if response.status_code < 500 or last:
                    self._raise_for_status(method, path, response)
                    return response
                log.info("IBKR %s %s answered %s; retrying", method, path, response.status_code)
            await self._sleep(self._config.retry_backoff_s * (2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request(
        self, method: str, path: str, params: dict[str, str] | None, body: Any
    ) -> httpx.Response:
        url = self._config.api_url + path
        timeout = self._config.request_timeout_s
        if self._gate_owner is not None and self._gate_owner is asyncio.current_task():
            return await self._client.request(
                method, url, params=params, json=body, timeout=timeout
            )
        async with self._gate:
            return await self._client.request(
                method, url, params=params, json=body, timeout=timeout
            )

    def _check_blocked(self, path: str) -> None:
        left = self._blocked_until - self._monotonic()
        if left > 0:
            raise RateLimited(
                f"IBKR rate limit: not calling {path} for another {left:.0f} s",
                broker=BROKER,
                retry_after=left,
            )

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = _error_text(response)
        where = f"IBKR {method} {path} answered {status}"
        if status == 429:
            retry_after = _retry_after(response) or self._config.rate_limit_backoff_s
            self._blocked_until = self._monotonic() + retry_after
            raise RateLimited(
                f"{where}: too many requests; waiting {retry_after:.0f} s",
                broker=BROKER,
                retry_after=retry_after,
                status_code=status,
            )
        if status in (401, 403):
            raise BrokerAuthError(
                f"{where}: the gateway session is not authenticated; log in to the gateway",
                broker=BROKER,
                status_code=status,
            )
        if status >= 500:
            raise BrokerUnavailable(f"{where}: {detail}", broker=BROKER, status_code=status)
        if method != "GET":
            raise BrokerRejected(f"{where}: {detail}", broker=BROKER, status_code=status)
        raise BrokerError(f"{where}: {detail}", broker=BROKER, status_code=status)


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return loads(response.text)
    except ValueError as error:
        raise _not_json(response) from error


def _not_json(response: httpx.Response) -> BrokerUnavailable:
    return BrokerUnavailable(
        f"IBKR answered {response.status_code} with a body that is not JSON: "
        f"{response.text[:200]!r}",
        broker=BROKER,
        status_code=response.status_code,
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = json.loads(response.text)
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"]).strip()
    return response.text[:200]


def _not_found(response: httpx.Response) -> bool:
    return response.status_code in (400, 404, 503) and "not found" in _error_text(response).lower()


def _error_400(response: httpx.Response) -> bool:
    return response.status_code == 400 and "error" in response.text


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
