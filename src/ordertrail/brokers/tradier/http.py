"""Raw Tradier REST calls named for their endpoints, with quota pacing and retries on reads."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from ordertrail.brokers.tradier.config import TradierConfig
from ordertrail.brokers.tradier.parsing import BROKER, load_json, parse_error, quota_expiry
from ordertrail.clock import Clock
from ordertrail.errors import BrokerError, BrokerUnavailable, RateLimited

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
STANDARD = "standard"
TRADING = "trading"
QUOTA_RETRIES = 3
QUOTA_MARGIN_S = 0.05


class TradierHttp:
    """Endpoint-named calls returning decoded JSON; failures raise the `BrokerError` they mean.

    Reads (and cancels) are retried on transient failures with backoff. A place is never
    repeated unless Tradier said the quota was spent, which means nothing was placed.
    """

    def __init__(
        self, config: TradierConfig, client: httpx.AsyncClient, *, clock: Clock, sleep: Sleep
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._base = config.base_url.rstrip("/")
        self._account_path = f"/accounts/{quote(config.account_id, safe='')}"
        self._blocked_until: dict[str, datetime] = {}

    def __repr__(self) -> str:
        return f"TradierHttp(base_url={self._base!r}, account_id={self._config.account_id!r})"

    async def list_orders(self, page: int, limit: int, start: date | None = None) -> Any:
        """GET one page of the account's orders, tags included."""
        params: dict[str, str] = {"includeTags": "true", "page": str(page), "limit": str(limit)}
        if start is not None:
            params |= {"filter": "all", "start": start.isoformat()}
        return await self._call("GET", f"{self._account_path}/orders", params=params, retry=True)

    async def get_order(self, order_id: str) -> Any:
        """GET one order by id, tag included."""
        path = f"{self._account_path}/orders/{quote(order_id, safe='')}"
        return await self._call("GET", path, params={"includeTags": "true"}, retry=True)

    async def place_order(
        self, form: Mapping[str, str], ready: Callable[[], Awaitable[None]] | None = None
    ) -> Any:
        """POST an order form (never repeated on an unknown outcome); `ready` is awaited
        right before each attempt leaves, after any wait for the trading quota."""
        path = f"{self._account_path}/orders"
        return await self._call("POST", path, form=form, retry=False, bucket=TRADING, ready=ready)

    async def cancel_order(self, order_id: str) -> Any:
        """DELETE an order: Tradier takes the request; the order's later state says the rest."""
        path = f"{self._account_path}/orders/{quote(order_id, safe='')}"
        return await self._call("DELETE", path, retry=True, bucket=TRADING)

    async def create_stream_session(self) -> Any:
        """POST for an account-events session id (one at a time, use it within 5 minutes)."""
        return await self._call("POST", "/accounts/events/session", retry=False)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        retry: bool,
        bucket: str = STANDARD,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> Any:
        label = f"{method} {path}"
        failures = 0
        quota_hits = 0
        while True:
            await self._wait_for_quota(bucket)
            if ready is not None:
                await ready()
            try:
                return await self._once(method, path, params, form, bucket)
            except RateLimited as error:
                quota_hits += 1
                if quota_hits > QUOTA_RETRIES:
                    raise
                log.warning("Tradier %s over quota, waiting %.1fs", label, error.retry_after)
            except BrokerUnavailable as error:
                failures += 1
                if not retry or failures > self._config.read_retries:
                    raise
                delay = min(self._config.retry_backoff_s * 2 ** (failures - 1), 5.0)
                log.warning("Tradier %s failed (%s); retry in %.2fs", label, error, delay)
                await self._sleep(delay)

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        bucket: str,
    ) -> Any:
        try:
            response = await self._send(method, path, params, form)
        except httpx.ConnectError as refused:
            raise BrokerUnavailable(
                f"Tradier {method} {path} could not connect ({type(refused).__name__}); "
                "nothing was sent",
                broker=BROKER,
                nothing_placed=True,
            ) from None
        except httpx.TransportError as lost:
            raise BrokerUnavailable(
                f"Tradier {method} {path} got no answer ({type(lost).__name__}); "
                "the outcome is unknown",
                broker=BROKER,
            ) from None
        self._note_quota(bucket, response)
        if response.is_success:
            try:
                return load_json(response.text)
            except BrokerUnavailable:
                raise _with_call(parse_error(200, response.text), method, path) from None
        error = parse_error(response.status_code, response.text, now=self._clock.now())
        if isinstance(error, RateLimited):
            expiry = quota_expiry(response.text)
            until = expiry or self._clock.now() + timedelta(seconds=error.retry_after)
            self._blocked_until[bucket] = until
        raise _with_call(error, method, path)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
    ) -> httpx.Response:
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self._config.access_token}",
        }
        url = self._base + path
        if method == "POST" and not form:
            headers["Content-Length"] = "0"
            return await self._client.request(method, url, headers=headers, content=b"")
        return await self._client.request(
            method, url, params=params, data=dict(form) if form else None, headers=headers
        )

    def _note_quota(self, bucket: str, response: httpx.Response) -> None:
        available = response.headers.get("X-Ratelimit-Available")
        expiry = response.headers.get("X-Ratelimit-Expiry")
        if available is None or expiry is None or not available.strip().isdigit():
            return
        if int(available) <= 0 and expiry.strip().isdigit():
            self._blocked_until[bucket] = datetime.fromtimestamp(int(expiry) / 1000, UTC)

    async def _wait_for_quota(self, bucket: str) -> None:
        until = self._blocked_until.get(bucket)
        if until is None:
            return
        delay = (until - self._clock.now()).total_seconds()
        if delay <= 0:
            self._blocked_until.pop(bucket, None)
            return
        delay = min(delay + QUOTA_MARGIN_S, self._config.max_quota_wait_s)
        log.info("Tradier %s quota spent; waiting %.2fs for the next window", bucket, delay)
        await self._sleep(delay)


def _with_call(error: BrokerError, method: str, path: str) -> BrokerError:
    """Prefix the error message with the call it answers."""
    error.args = (f"{method} {path}: {error}",)
    return error
