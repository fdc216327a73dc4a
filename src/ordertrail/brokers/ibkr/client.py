"""IbkrBroker: the Broker port over the Client Portal Web API (REST and websocket)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import connect

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.contracts import ContractBook
from ordertrail.brokers.ibkr.http import IbkrHttp
from ordertrail.brokers.ibkr.parsing import (
    BROKER,
    canonical_status,
    order_rows,
    parse_execution,
    parse_order_status,
    with_executions,
)
from ordertrail.brokers.ibkr.placing import build_ticket, run_chain
from ordertrail.brokers.ibkr.polling import ListPoll, trade_rows
from ordertrail.brokers.ibkr.stream import Connect, IbkrStream
from ordertrail.brokers.ibkr.values import id_text
from ordertrail.brokers.inactive import InactiveGrace
from ordertrail.clock import Clock, SystemClock
from ordertrail.domain.report import OrderReport
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import BrokerAuthError, BrokerError, BrokerRejected, BrokerUnavailable
from ordertrail.ports import PlaceRequest, PlaceResult, StreamBatch, StreamItem

log = logging.getLogger(__name__)


class IbkrBroker:
    """One IBKR account behind one Client Portal gateway, speaking reports.

    Fills come only as real executions (`/iserver/account/trades` and `str`), so every
    report has `derives_fills=False`. The gateway session is kept alive with `/tickle`.
    """

    name = BROKER

    def __init__(
        self,
        config: IbkrConfig,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        connector: Connect = connect,
    ) -> None:
        self.config = config
        self.account_id = config.account_id
        self._clock = clock or SystemClock()
        self._owns_client = http is None
        self._client = http or httpx.AsyncClient(
            verify=config.verify_ssl, timeout=config.request_timeout_s
        )
        self.http = IbkrHttp(self._client, config, sleep=sleep)
        self.contracts = ContractBook(self.http)
        self._stream = IbkrStream(
            config, clock=self._clock, known=self.contracts.options, connector=connector
        )
        self._ready = False
        self._closed = False
        self._session: str | None = None
        self._forced_at: datetime | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._refs: dict[str, str] = {}
        self._inactive_grace = InactiveGrace(config.inactive_grace_s, self._clock)
        self.poll = ListPoll(config, self.http, self.contracts)
        self.memory = self.poll.memory

    # --- the port ----------------------------------------------------------------------

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        """Report the session's live orders plus every order with trades since `since`."""
        await self._ensure_ready()
        now = self._clock.now()
        interval = timedelta(seconds=self.config.orders_force_interval_s)
        if self._forced_at is None or now - self._forced_at >= interval:
            await self.http.orders(force=True)  # clears the gateway cache; answers empty
            self._forced_at = now
        rows = order_rows(await self.http.orders())
        if rows is None:
            raise BrokerUnavailable("IBKR live orders answer has no order list", broker=BROKER)
        reports = await self.poll.reports(rows, self._days_since(since))
        return self.memory.same_as_before([await self._finish(report) for report in reports])

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        """Report one order of this session with its executions; None for an unknown id."""
        await self._ensure_ready()
        self.poll.looked_up()
        body = await self.http.order_status(broker_order_id)
        if body is None:
            return None
        if not isinstance(body, dict) or "error" in body:
            raise BrokerUnavailable(f"IBKR order status answer: {body!r}", broker=BROKER)
        report = parse_order_status(body, self.account_id, known=self.contracts.options)
        trades = trade_rows(await self.http.trades(self.config.trades_max_days))
        mine = [t for t in trades if id_text(t.get("order_id")) == broker_order_id]
        executions = (parse_execution(t) for t in mine)
        report = with_executions(report, (e for e in executions if e is not None))
        return await self._finish(report)

    async def place(self, request: PlaceRequest) -> PlaceResult:
        """Place one order with `cOID` = our client order id, confirming questions by policy."""
        await self._ensure_ready()
        try:
            conid = await self.contracts.conid_for(request.instrument)
        except BrokerError as error:
            if isinstance(error, BrokerRejected):
                raise
            raise BrokerUnavailable(
                f"IBKR contract lookup failed before placing, nothing was sent: {error}",
                broker=BROKER,
                nothing_placed=True,
            ) from error
        ticket = build_ticket(request, conid)
        answer = await run_chain(self.http, self.config, [ticket], ready=request.ready)
        assert answer.order_id is not None
        self._refs[answer.order_id] = request.client_order_id
        status, flags = canonical_status(answer.order_status, None, None)
        report = OrderReport(
            broker=BROKER,
            account_id=self.account_id,
            broker_order_id=answer.order_id,
            status=status or OrderStatus.PLACED,
            broker_status=answer.order_status,
            client_order_id=request.client_order_id,
            quantity=request.quantity,
            limit_price=request.limit_price,
            instrument=replace(request.instrument, contract_id=conid),
            side=request.side,
            order_type=request.order_type,
            derives_fills=False,
            source="place",
            flags=flags,
            raw={"answer": answer.raw},
        )
        return PlaceResult(broker_order_id=answer.order_id, report=report)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask IBKR to cancel; the acknowledgement settles nothing, a later report does."""
        await self._ensure_ready()
        body = await self.http.cancel(self.account_id, broker_order_id)
        if isinstance(body, dict) and body.get("error"):
            raise BrokerRejected(
                f"IBKR refused to cancel order {broker_order_id}: {str(body['error']).strip()}",
                broker=BROKER,
            )
        log.info("IBKR cancel of %s acknowledged: %s", broker_order_id, body)

    def committed(self, reports: Sequence[OrderReport]) -> None:
        """Hear which reports a transaction committed (from the writer thread): their
        executions are recorded, so later polls leave them out."""
        self.memory.committed(reports)

    def stream(self) -> AsyncIterator[StreamItem] | None:
        """One websocket session (None when the websocket is disabled)."""
        return self._run_stream() if self.config.ws_enabled else None

    async def aclose(self) -> None:
        """Stop the keep-alive and release the HTTP client if we made it."""
        self._closed = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None
        if self._owns_client:
            await self._client.aclose()

    # --- helpers -----------------------------------------------------------------------

    async def _run_stream(self) -> AsyncIterator[StreamItem]:
        await self._ensure_ready()
        token = await self._tickle()
        self._forced_at = None  # a new socket: clear the gateway cache on the next poll
        self.poll.connected()  # and ask for every trade
        try:
            async for item in self._stream.session(token):
                if isinstance(item, OrderReport):
                    yield await self._finish(item)
                elif isinstance(item, StreamBatch):
                    yield StreamBatch(tuple([await self._finish(r) for r in item.reports]))
                else:
                    self.poll.streaming = True  # subscribed
                    yield item
        finally:
            self.poll.streaming = False

    async def _ensure_ready(self) -> None:
        if self._ready:
            return
        await self._tickle()
        await self.http.accounts()  # pre-flight before order calls and `sor`
        self._ready = True
        if not self._closed and (self._keepalive is None or self._keepalive.done()):
            self._keepalive = asyncio.create_task(self._keep_alive())

    async def _tickle(self) -> str:
        body = await self.http.tickle()
        auth = _auth_status(body)
        if auth is None:
            auth = await self.http.auth_status()
        if not isinstance(auth, dict) or auth.get("authenticated") is not True:
            self._ready = False
            raise BrokerAuthError(
                "the IBKR gateway session is not authenticated; log in at the gateway "
                f"({self.config.base_url}) and retry",
                broker=BROKER,
            )
        if auth.get("competing") is True:
            raise BrokerAuthError(
                "another IBKR session competes with the gateway; log out elsewhere and retry",
                broker=BROKER,
            )
        session = body.get("session") if isinstance(body, dict) else None
        if session:
            self._session = str(session)
        return self._session or ""

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.config.tickle_interval_s)
            try:
                await self._tickle()
            except BrokerError as error:
                log.warning("IBKR keep-alive failed: %s", error)

    async def _finish(self, report: OrderReport) -> OrderReport:
        report = await self.contracts.complete(report)
        order_id = report.broker_order_id
        if order_id is not None:
            if report.client_order_id:
                self._refs[order_id] = report.client_order_id
            elif order_id in self._refs:
                report = replace(report, client_order_id=self._refs[order_id])
        return self._inactive_grace(report)

    def _days_since(self, since: datetime) -> int:
        """Days of trades to ask for to reach back to `since`: a day more than the dates
        between, since IBKR's trading day need not end at our (UTC) midnight."""
        days = (self._clock.now().date() - since.date()).days + 2
        return max(1, min(days, self.config.trades_max_days))


def _auth_status(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    iserver = body.get("iserver")
    status = iserver.get("authStatus") if isinstance(iserver, dict) else None
    return status if isinstance(status, dict) else None
