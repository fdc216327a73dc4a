"""The Client Portal websocket: authenticate, subscribe to `sor`/`str`, turn frames into reports."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.parsing import (
    parse_order_row,
    report_from_trades,
    row_account,
)
from ordertrail.brokers.ibkr.values import id_text, text_or_none
from ordertrail.clock import Clock, SystemClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerAuthError, BrokerUnavailable
from ordertrail.ports import StreamBatch, StreamConnected, StreamItem

log = logging.getLogger(__name__)
# The websocket library logs handshake headers (our session cookie) at DEBUG: keep it above.
_protocol_log = logging.getLogger(f"{__name__}.protocol")
_protocol_log.setLevel(logging.INFO)

BROKER = "ibkr"
IGNORED_TOPICS = frozenset({"ntf", "blt", "spl", "act", "tic"})
Connect = Callable[..., Any]


def decode_frame(message: str | bytes) -> dict[str, Any] | None:
    """Parse one websocket message into a JSON object; None for anything else."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    try:
        frame = json.loads(text, parse_float=Decimal)
    except ValueError:
        log.debug("IBKR websocket message that is not JSON: %r", text[:200])
        return None
    return frame if isinstance(frame, dict) else None


class IbkrStream:
    """Websocket sessions over state kept across reconnects.

    `sor` deltas are merged by `orderId` into full rows (absent means unchanged) and every
    update becomes a report; `str` rows become executions, each execution id reported once
    even when the gateway replays its history after a reconnect.
    """

    def __init__(
        self,
        config: IbkrConfig,
        *,
        clock: Clock | None = None,
        known: Mapping[str, Instrument] | None = None,
        connector: Connect = connect,
    ) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        self._known: Mapping[str, Instrument] = known if known is not None else {}
        self._connect = connector
        self.rows: dict[str, dict[str, Any]] = {}
        self.seen_executions: set[str] = set()
        self._order_by_ref: MutableMapping[str, str] = {}

    async def session(self, token: str) -> AsyncIterator[StreamItem]:
        """Run one connection: StreamConnected once subscribed, then reports; raise on a drop."""
        url = self._config.websocket_url
        try:
            async with self._connect(url, **self._connect_options(token)) as ws:
                await self._authenticate(ws, token)
                await ws.send("sor+{}")
                await ws.send("str+{}")
                yield StreamConnected(at=self._clock.now(), detail="subscribed to sor and str")
                async for item in self._receive(ws):
                    yield item
        except ConnectionClosed as error:
            raise BrokerUnavailable(f"IBKR websocket closed: {error}", broker=BROKER) from error
        except (OSError, WebSocketException) as error:
            raise BrokerUnavailable(
                f"IBKR websocket unreachable at {url}: {error}", broker=BROKER
            ) from error

    def _connect_options(self, token: str) -> dict[str, Any]:
        options: dict[str, Any] = {
            "ping_interval": None,
            "compression": None,  # small frames, often: inflating each cost more than it saved
            "close_timeout": 2,
            "max_size": 64 * 2**20,
            "logger": _protocol_log,
        }
        if self._config.ws_auth in ("cookie", "both"):
            cookie = json.dumps({"session": token}, separators=(",", ":"))
            options["additional_headers"] = {"Cookie": f"api={cookie}"}
        if self._config.websocket_url.startswith("wss") and not self._config.verify_ssl:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            options["ssl"] = context
        return options

    async def _authenticate(self, ws: ClientConnection, token: str) -> None:
        frame_sent = self._config.ws_auth in ("frame", "both")
        if frame_sent:
            await ws.send(json.dumps({"session": token}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.ws_auth_timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise BrokerUnavailable(
                    "IBKR websocket did not confirm the session in time", broker=BROKER
                )
            try:
                async with asyncio.timeout(left):  # unlike wait_for, never eats a cancel
                    message = await ws.recv()
            except TimeoutError:
                continue
            frame = decode_frame(message)
            if frame is None:
                continue
            if frame.get("message") == "waiting for session" and not frame_sent:
                await ws.send(json.dumps({"session": token}))
                frame_sent = True
            elif _authenticated(frame):
                return
            elif frame.get("topic") == "sts" and _sts(frame).get("authenticated") is False:
                raise BrokerAuthError(
                    "IBKR websocket says the session is not authenticated; log in to the gateway",
                    broker=BROKER,
                )
            elif "error" in frame:
                log.warning("IBKR websocket error while authenticating: %s", frame["error"])

    async def _receive(self, ws: ClientConnection) -> AsyncIterator[StreamItem]:
        loop = asyncio.get_running_loop()
        last_hb = loop.time()
        next_tic = loop.time() + self._config.tic_interval_s
        while True:
            now = loop.time()
            if now - last_hb > self._config.heartbeat_timeout_s:
                silence = self._config.heartbeat_timeout_s
                raise BrokerUnavailable(
                    f"IBKR websocket sent no heartbeat for {silence:.0f} s", broker=BROKER
                )
            if now >= next_tic:
                await ws.send("tic")
                next_tic = now + self._config.tic_interval_s
            wait = min(next_tic, last_hb + self._config.heartbeat_timeout_s) - now
            try:
                async with asyncio.timeout(max(wait, 0.001)):
                    message = await ws.recv()
            except TimeoutError:
                continue
            frame = decode_frame(message)
            if frame is None:
                continue
            if frame.get("topic") == "system" and "hb" in frame:
                last_hb = loop.time()
                continue
            try:
                item = self.handle(frame)
            except (TypeError, ValueError, ArithmeticError, AttributeError) as error:
                log.warning("IBKR websocket frame left out, unreadable (%s): %.300r", error, frame)
                continue
            if item is not None:
                yield item

    def handle(self, frame: Mapping[str, Any]) -> StreamItem | None:
        """Turn one server frame into a report or a batch (None for frames without orders)."""
        topic = frame.get("topic")
        if topic == "sor":
            reports = [r for r in map(self.merge_order, _args(frame)) if r is not None]
        elif topic == "str":
            reports = [r for r in map(self.trade, _args(frame)) if r is not None]
        else:
            if "error" in frame:
                log.warning("IBKR websocket error frame: %s", frame["error"])
            elif not isinstance(topic, str) or topic not in {*IGNORED_TOPICS, "system", "sts"}:
                log.debug("IBKR websocket frame ignored (topic %r)", topic)
            return None
        if not reports:
            return None
        return reports[0] if len(reports) == 1 else StreamBatch(tuple(reports))

    def merge_order(self, delta: Mapping[str, Any]) -> OrderReport | None:
        """Merge one `sor` row or delta into what we know of the order and report the result."""
        key = id_text(delta.get("orderId"))
        if key is None or not self._ours(delta):
            return None
        merged = {**self.rows.get(key, {}), **delta}
        self.rows[key] = merged
        ref = text_or_none(merged.get("order_ref"))
        if ref is not None:
            self._order_by_ref[ref] = key
        return parse_order_row(
            merged, self._config.account_id, source="stream", known=self._known, raw=delta
        )

    def trade(self, row: Mapping[str, Any]) -> OrderReport | None:
        """Report one `str` execution the first time its id is seen."""
        execution_id = text_or_none(row.get("execution_id"))
        if execution_id is None or execution_id in self.seen_executions or not self._ours(row):
            return None
        self.seen_executions.add(execution_id)
        order_id = id_text(row.get("order_id"))
        ref = text_or_none(row.get("order_ref"))
        if order_id is None:
            order_id = self._order_by_ref.get(ref or "")
        if order_id is None and ref is None:
            log.warning("IBKR execution %s names no order; polling will find it", execution_id)
            return None
        return report_from_trades(
            [row],
            self._config.account_id,
            source="stream",
            known=self._known,
            broker_order_id=order_id,
        )

    def _ours(self, row: Mapping[str, Any]) -> bool:
        account = row_account(row)
        return account is None or account == self._config.account_id


def _args(frame: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    args = frame.get("args")
    if isinstance(args, dict):
        args = [args]
    return [a for a in args if isinstance(a, dict)] if isinstance(args, list) else []


def _sts(frame: Mapping[str, Any]) -> Mapping[str, Any]:
    args = frame.get("args")
    return args if isinstance(args, dict) else {}


def _authenticated(frame: Mapping[str, Any]) -> bool:
    topic = frame.get("topic")
    if topic == "sts":
        return _sts(frame).get("authenticated") is True
    return topic == "system" and bool(frame.get("success"))
