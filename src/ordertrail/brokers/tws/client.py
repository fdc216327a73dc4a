"""TwsBroker: the Broker port over ib_async's `IB` (imported only when a broker is made)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from ordertrail.brokers.inactive import InactiveGrace
from ordertrail.brokers.tws.config import TwsConfig
from ordertrail.brokers.tws.parsing import (
    BROKER,
    execution_key,
    perm_id_of,
    report_from_fills,
    report_from_trade,
    utc,
)
from ordertrail.clock import Clock, SystemClock
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.domain.trade import ORDER_ACTIONS
from ordertrail.errors import BrokerRejected, BrokerUnavailable, ConfigurationError
from ordertrail.ports import PlaceRequest, PlaceResult, StreamConnected, StreamItem

log = logging.getLogger(__name__)

ORDER_TYPES = {"market": "MKT", "limit": "LMT", "stop": "STP", "stop_limit": "STP LMT"}
TIFS = {"day": "DAY", "gtc": "GTC", "ioc": "IOC", "opg": "OPG"}
DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
CONNECTIVITY_LOST = 1100  # TWS lost IB; the API socket stays up
CONNECTIVITY_RESTORED = frozenset({1101, 1102})  # back (1101: with its data lost)


class TwsBroker:
    """One account behind TWS / IB Gateway; orders keyed by `permId`, ours tagged by `orderRef`.

    Fills come from `execDetailsEvent` (deduplicated by execution id, corrections included)
    and, after a reconnect, from `ib.fills()`, which ib_async reloads without events.
    """

    name = BROKER

    def __init__(self, config: TwsConfig, ib: Any = None, clock: Clock | None = None) -> None:
        if ib is None:
            try:
                from ib_async import IB
            except ImportError as error:
                raise ConfigurationError(
                    "the TWS broker needs ib_async: pip install 'ordertrail[tws]'"
                ) from error
            ib = IB()
        self.config = config
        self.account_id = config.account_id
        self.ib = ib
        self._clock = clock or SystemClock()
        self._seen: set[str] = set()
        self._unnamed: set[str] = set()  # execution ids of fills naming no order, logged
        self._recovering: set[asyncio.Task[None]] = set()
        self._inactive_grace = InactiveGrace(config.inactive_grace_s, self._clock)
        self._queue: asyncio.Queue[StreamItem | Exception] | None = None

    # --- the port ----------------------------------------------------------------------

    async def place(self, request: PlaceRequest) -> PlaceResult:
        """Place with `orderRef` = our client order id and wait for TWS's `permId`."""
        try:
            await self._ensure_connected()
        except BrokerUnavailable as error:  # no order message was sent: nothing placed
            raise BrokerUnavailable(
                f"{error}; nothing was sent", broker=BROKER, nothing_placed=True
            ) from error
        contract, order = _contract(request.instrument, self.config), self._order(request)
        if request.ready is not None:  # the order message leaves now
            await request.ready()
        trade = self.ib.placeOrder(contract, order)
        changed = asyncio.Event()

        def wake(*_: Any) -> None:
            changed.set()

        trade.statusEvent += wake
        self.ib.openOrderEvent += wake
        try:
            await self._acknowledged(trade, changed)
        finally:
            trade.statusEvent -= wake
            self.ib.openOrderEvent -= wake
        report = report_from_trade(trade, self.account_id, source="place")
        if trade.orderStatus.status in ("Cancelled", "ApiCancelled") and report.reason:
            raise BrokerRejected(f"TWS refused the order: {report.reason}", broker=BROKER)
        return PlaceResult(broker_order_id=str(perm_id_of(trade)), report=report)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask TWS to cancel the order with this `permId`."""
        await self._ensure_connected()
        trade = self._trade(broker_order_id)
        if trade is None:
            raise BrokerRejected(
                f"TWS shows no order with permId {broker_order_id} on this connection; "
                "cancel it in TWS or connect with the client id that placed it",
                broker=BROKER,
            )
        self.ib.cancelOrder(trade.order)

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        """Report this session's orders active since `since`, and fills whose order is gone."""
        await self._ensure_connected()
        reports, known = [], set()
        for trade in self.ib.trades():
            known.add(perm_id_of(trade))
            last = max((t for t in (utc(e.time) for e in trade.log) if t), default=None)
            if trade.orderStatus.status in DONE and last is not None and last < since:
                continue
            reports.append(self._of_trade(trade, "poll"))
        orphans: dict[tuple[int, str], list[Any]] = defaultdict(list)
        for fill in self.ib.fills():
            if fill.execution.permId not in known:
                orphans[_order_key(fill)].append(fill)
        reports.extend(report_from_fills(f, self.account_id) for f in orphans.values())
        reports = self._named(reports)
        for report in reports:
            self._seen.update(e.execution_id for e in report.executions)
        return reports

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        """Report the order with this `permId`, or None when this session does not know it."""
        await self._ensure_connected()
        trade = self._trade(broker_order_id)
        if trade is not None:
            return self._of_trade(trade, "lookup")
        fills = [f for f in self.ib.fills() if str(f.execution.permId) == broker_order_id]
        return report_from_fills(fills, self.account_id, source="lookup") if fills else None

    def stream(self) -> AsyncIterator[StreamItem] | None:
        """One session of ib_async events; it raises when the API connection drops."""
        return self._run_stream()

    async def aclose(self) -> None:
        """Disconnect from TWS."""
        self.ib.disconnect()

    # --- events ------------------------------------------------------------------------

    async def _run_stream(self) -> AsyncIterator[StreamItem]:
        queue: asyncio.Queue[StreamItem | Exception] = asyncio.Queue()
        self._queue = queue
        handlers: list[tuple[Any, Callable[..., None]]] = [
            (self.ib.orderStatusEvent, self._on_status),
            (self.ib.execDetailsEvent, self._on_execution),
            (self.ib.connectedEvent, self._on_connected),
            (self.ib.disconnectedEvent, self._on_disconnected),
            (self.ib.errorEvent, self._on_error),
        ]
        for event, handler in handlers:
            event += handler
        try:
            if self.ib.isConnected():
                self._on_connected()
            else:
                await self._connect()
            while True:
                item = await queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            for event, handler in handlers:
                event -= handler
            self._queue = None

    def _put(self, item: StreamItem | Exception) -> None:
        if self._queue is not None:
            self._queue.put_nowait(item)

    def _on_status(self, trade: Any) -> None:
        for report in self._named([self._of_trade(trade, "stream")]):
            self._put(report)

    def _on_execution(self, trade: Any, fill: Any) -> None:
        key = execution_key(fill.execution.execId)
        self._seen.add(key)
        for report in self._named([self._of_trade(trade, "stream")]):
            self._put(report)

    def _on_connected(self) -> None:
        """Announce the session, then report fills ib_async reloaded without events."""
        self._put(StreamConnected(at=self._clock.now(), detail="TWS API connected"))
        self._report_missed()

    def _on_error(self, _req_id: int, code: int, text: str, *_: Any) -> None:
        """After TWS lost and regained IB (1100, then 1101/1102) the API socket never
        dropped, but executions made meanwhile may never come as events: ask for the day's
        executions again, report those not seen, and announce a fresh session (the watcher
        reconciles on it)."""
        if code == CONNECTIVITY_LOST:
            log.warning("TWS lost its connection to IB (%s): %s", code, text)
        elif code in CONNECTIVITY_RESTORED:
            log.warning("TWS connection to IB restored (%s): %s; re-reading executions", code, text)
            task = asyncio.get_running_loop().create_task(self._recover(code))
            self._recovering.add(task)
            task.add_done_callback(self._recovering.discard)

    async def _recover(self, code: int) -> None:
        try:  # some TWS builds never answer reqExecutions: polling is left then
            async with asyncio.timeout(self.config.connect_timeout_s):
                await self.ib.reqExecutionsAsync()
        except Exception as error:  # the socket may be going: its own events say so
            log.warning("TWS executions could not be re-read after %s: %r", code, error)
            return
        self._put(StreamConnected(at=self._clock.now(), detail=f"TWS reconnected to IB ({code})"))
        self._report_missed()

    def _report_missed(self) -> None:
        """Report the fills ib_async holds that no event brought (reloaded or re-read)."""
        missed: dict[tuple[int, str], list[Any]] = defaultdict(list)
        for fill in self.ib.fills():
            if execution_key(fill.execution.execId) not in self._seen:
                missed[_order_key(fill)].append(fill)
        for (perm_id, _ref), fills in missed.items():
            trade = self._trade(str(perm_id)) if perm_id else None
            if trade is not None:
                report = self._of_trade(trade, "stream")
            else:
                report = report_from_fills(fills, self.account_id, source="stream")
            for named in self._named([report]):
                self._seen.update(e.execution_id for e in named.executions)
                self._put(named)

    def _on_disconnected(self) -> None:
        self._put(BrokerUnavailable("TWS API connection dropped", broker=BROKER))

    # --- helpers -----------------------------------------------------------------------

    def _of_trade(self, trade: Any, source: str) -> OrderReport:
        return self._inactive_grace(report_from_trade(trade, self.account_id, source=source))

    def _named(self, reports: list[OrderReport]) -> list[OrderReport]:
        """The reports that name an order. Fills of trades from outside IB carry neither a
        `permId` nor an `orderRef`: nothing could find their order again, so adopting them
        would make a new order of the same fills at every poll. They are left out (logged
        once per execution), as the Client Portal adapter leaves out id-less trades."""
        named = []
        for report in reports:
            if report.broker_order_id or report.client_order_id:
                named.append(report)
                continue
            new = [e.execution_id for e in report.executions if e.execution_id not in self._unnamed]
            if new:
                self._unnamed.update(new)
                log.info("TWS executions %s name no order (trades from outside IB); left out", new)
        return named

    async def _ensure_connected(self) -> None:
        if not self.ib.isConnected():
            await self._connect()

    async def _connect(self) -> None:
        config = self.config
        try:
            await self.ib.connectAsync(
                config.host,
                config.port,
                clientId=config.client_id,
                timeout=config.connect_timeout_s,
                account=config.account_id,
            )
        except (OSError, TimeoutError, ConnectionError) as error:
            raise BrokerUnavailable(
                f"cannot reach TWS at {config.host}:{config.port} (client id "
                f"{config.client_id}): {error}; is TWS or IB Gateway running with the API on?",
                broker=BROKER,
            ) from error

    async def _acknowledged(self, trade: Any, changed: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.place_timeout_s
        while not perm_id_of(trade) and trade.orderStatus.status not in DONE:
            left = deadline - loop.time()
            if left <= 0:
                raise BrokerUnavailable(
                    f"TWS did not acknowledge order {trade.order.orderRef!r} within "
                    f"{self.config.place_timeout_s:.0f} s; look it up by its orderRef",
                    broker=BROKER,
                )
            changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await changed.wait()

    def _trade(self, broker_order_id: str) -> Any | None:
        for trade in self.ib.trades():
            if str(perm_id_of(trade)) == broker_order_id:
                return trade
        return None

    def _order(self, request: PlaceRequest) -> Any:
        from ib_async import Order

        action = ORDER_ACTIONS.get(request.side.lower())
        order_type = ORDER_TYPES.get(request.order_type.lower())
        tif = TIFS.get(request.duration.lower())
        if request.legs or action is None or order_type is None or tif is None:
            raise BrokerRejected(
                f"TWS cannot place side {request.side!r}, type {request.order_type!r}, duration "
                f"{request.duration!r}{' with legs' if request.legs else ''}",
                broker=BROKER,
            )
        order = Order(
            action=action,
            totalQuantity=float(request.quantity),
            orderType=order_type,
            tif=tif,
            orderRef=request.client_order_id,
            account=self.account_id,
        )
        if order_type in ("LMT", "STP LMT"):
            if request.limit_price is None:
                raise BrokerRejected(f"a {request.order_type} order needs a limit price")
            order.lmtPrice = float(request.limit_price)
        if order_type in ("STP", "STP LMT"):
            if request.stop_price is None:
                raise BrokerRejected(f"a {request.order_type} order needs a stop price")
            order.auxPrice = float(request.stop_price)
        return order


def _contract(instrument: Instrument, config: TwsConfig) -> Any:
    from ib_async import Contract, Option, Stock

    if instrument.contract_id:
        return Contract(conId=int(instrument.contract_id), exchange=config.exchange)
    if instrument.is_option:
        if instrument.expiry is None or instrument.strike is None or instrument.right is None:
            raise BrokerRejected(
                f"option {instrument.symbol} needs expiry, strike and right (or a conId)",
                broker=BROKER,
            )
        return Option(
            instrument.symbol,
            instrument.expiry.strftime("%Y%m%d"),
            float(instrument.strike),
            instrument.right,
            config.exchange,
            multiplier="100",
            currency=config.currency,
        )
    return Stock(instrument.symbol, config.exchange, config.currency)


def _order_key(fill: Any) -> tuple[int, str]:
    """Which order a fill belongs to: its `permId`, and its `orderRef` (fills not yet given a
    `permId` are told apart by it)."""
    return int(fill.execution.permId or 0), fill.execution.orderRef or ""
