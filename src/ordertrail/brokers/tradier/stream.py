"""The Tradier account-events websocket: one session, subscribed, read until it drops."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, WebSocketException

from ordertrail.brokers.tradier.config import TradierConfig
from ordertrail.brokers.tradier.http import TradierHttp
from ordertrail.brokers.tradier.parsing import (
    BROKER,
    is_conditional,
    parse_order_event,
    parse_session,
    parse_stream_message,
)
from ordertrail.clock import Clock
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerUnavailable
from ordertrail.ports import StreamBatch, StreamConnected, StreamItem

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[OrderReport | None]]


class TradierStream:
    """Turn account events into reports: each event names an order, which is read over REST.

    Events lack symbol, side, quantity and class, so the REST read is the report; when that
    read fails transiently the sparse event stands in (no prices: events are no price source).
    """

    def __init__(self, config: TradierConfig, api: TradierHttp, fetch: Fetch, clock: Clock) -> None:
        self._config = config
        self._api = api
        self._fetch = fetch
        self._clock = clock

    async def session(self) -> AsyncIterator[StreamItem]:
        """Open one session: StreamConnected once subscribed, then reports until it drops."""
        url, session_id = parse_session(await self._api.create_stream_session())
        url = self._config.stream_url or url
        try:
            async with connect(url, open_timeout=self._config.request_timeout_s) as socket:
                await socket.send(json.dumps(subscribe_frame(session_id)))
                log.info("Tradier account stream subscribed for %s", self._config.account_id)
                yield StreamConnected(at=self._clock.now(), detail="tradier account events")
                async for item in self._read(socket):
                    yield item
        except (OSError, WebSocketException, TimeoutError) as error:
            raise BrokerUnavailable(
                f"Tradier account stream failed: {type(error).__name__}: {error}", broker=BROKER
            ) from None

    async def _read(self, socket: ClientConnection) -> AsyncIterator[StreamItem]:
        timeout = self._config.heartbeat_timeout_s
        while True:
            try:
                async with asyncio.timeout(timeout):  # unlike wait_for, never eats a cancel
                    frame = await socket.recv()
            except TimeoutError:
                raise BrokerUnavailable(
                    f"Tradier account stream silent for {timeout:g}s; reconnect", broker=BROKER
                ) from None
            except ConnectionClosedOK:
                log.info("Tradier account stream closed by the server")
                return
            except ConnectionClosed as error:
                raise BrokerUnavailable(
                    f"Tradier account stream dropped ({error})", broker=BROKER
                ) from None
            reports = await self._reports(parse_stream_message(frame))
            if len(reports) == 1:
                yield reports[0]
            elif reports:
                yield StreamBatch(tuple(reports))

    async def _reports(self, messages: list[Mapping[str, Any]]) -> list[OrderReport]:
        # The latest event of each order to read: the order's own, or for a multileg leg or
        # an OCO/OTO child (`parent_id`) its parent's, which says how the group is tracked.
        latest: dict[str, tuple[Mapping[str, Any], bool]] = {}
        for message in messages:
            kind = message.get("event")
            if kind == "heartbeat":
                continue
            if "error" in message or kind == "error":
                raise BrokerUnavailable(
                    f"Tradier account stream refused the session: {message}", broker=BROKER
                )
            if kind != "order" or not _is_order_id(message.get("id")):
                log.info("Tradier account stream sent an unknown message: %s", message)
                continue
            account = message.get("account")
            if account is not None and str(account) != self._config.account_id:
                continue
            parent = message.get("parent_id")
            child = _is_order_id(parent) and str(parent) not in ("0", str(message["id"]))
            key = str(parent) if child else str(message["id"])
            latest.pop(key, None)
            latest[key] = (message, child)
        reports: list[OrderReport] = []
        for order_id, (event, child) in latest.items():
            reports.extend(await self._report(order_id, event, child))
        return reports

    async def _report(
        self, order_id: str, event: Mapping[str, Any], child: bool
    ) -> list[OrderReport]:
        """The reports an event stands for, read over REST: the order itself; for an
        OCO/OTO/OTOCO parent, its children (the real orders, see `tracked_orders`)."""
        try:
            report = await self._fetch(order_id)
        except BrokerUnavailable as error:
            if child:  # a leg's or child's event alone cannot say which order it moves
                log.warning("Tradier order %s not readable (%s); left to polling", order_id, error)
                return []
            log.warning(
                "Tradier order %s not readable (%s); using the event alone", order_id, error
            )
            return [parse_order_event(event, self._config.account_id)]
        if report is None:
            if event.get("account") is not None and not child:
                return [parse_order_event(event, self._config.account_id)]
            return []
        if isinstance(report.raw, Mapping) and is_conditional(report.raw):
            return list(report.legs)
        return [report]


def subscribe_frame(session_id: str) -> dict[str, Any]:
    """The frame that subscribes a session to order events of every account."""
    return {"events": ["order"], "sessionid": session_id, "excludeAccounts": []}


def _is_order_id(value: Any) -> bool:
    """Tell a Tradier order id (an integer, or its digits) from anything else an event may hold."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())
