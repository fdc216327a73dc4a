"""`TradierBroker`: the Broker port over Tradier's REST API and account-events stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx

from ordertrail.brokers.tradier.config import TradierConfig
from ordertrail.brokers.tradier.http import Sleep, TradierHttp
from ordertrail.brokers.tradier.list_cache import ListCache
from ordertrail.brokers.tradier.parsing import (
    BROKER,
    OrderFinalized,
    UnauthorizedAccount,
    error_reasons,
    needs_fill_data,
    order_dicts,
    parse_order,
    parse_place_answer,
    tracked_orders,
)
from ordertrail.brokers.tradier.stream import TradierStream
from ordertrail.clock import Clock, SystemClock
from ordertrail.domain.ids import InvalidClientOrderId, validate_client_order_id
from ordertrail.domain.instrument import SecType, parse_occ
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerError, BrokerRejected, BrokerUnavailable
from ordertrail.ports import PlaceRequest, PlaceResult, StreamItem

log = logging.getLogger(__name__)

EASTERN = ZoneInfo("America/New_York")
BACKFILL_DAYS = 30
PRICED_TYPES = frozenset({"limit", "stop_limit", "debit", "credit"})
STOP_TYPES = frozenset({"stop", "stop_limit"})


class TradierBroker:
    """One Tradier account. Reports carry cumulative numbers; the domain derives the fills."""

    name = BROKER

    def __init__(
        self,
        config: TradierConfig,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.account_id = config.account_id
        self._config = config
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._owns_client = http is None
        self._client = http or httpx.AsyncClient(timeout=config.request_timeout_s)
        self._api = TradierHttp(config, self._client, clock=self._clock, sleep=sleep)
        self._listed = ListCache(config.account_id)
        self._backfilled: tuple[date, datetime] | None = None  # how far back, made when

    def __repr__(self) -> str:
        return f"TradierBroker(account_id={self.account_id!r}, base_url={self._config.base_url!r})"

    async def place(self, request: PlaceRequest) -> PlaceResult:
        """Place an order tagged with our client order id and read it back once."""
        payload = await self._api.place_order(place_form(request), ready=request.ready)
        order_id = parse_place_answer(payload)
        try:
            report = await self._read(order_id, "place")
        except BrokerError as error:
            log.warning("Tradier order %s placed but not read back: %s", order_id, error)
            report = None
        return PlaceResult(broker_order_id=order_id, report=report)

    async def cancel(self, broker_order_id: str) -> None:
        """Ask Tradier to cancel; an order already finished is no error."""
        try:
            payload = await self._api.cancel_order(broker_order_id)
        except OrderFinalized as error:
            log.info("Tradier order %s already finished (%s)", broker_order_id, error.status)
            return
        reasons = error_reasons(payload)
        if reasons:
            raise BrokerRejected(
                f"Tradier refused to cancel order {broker_order_id}: {'; '.join(reasons)}",
                broker=BROKER,
            )

    async def list_orders(self, since: datetime) -> list[OrderReport]:
        """Report the account's orders (today's; older ones back to `since` by backfill).

        An order shown exactly as in the last list comes back as the same report object,
        unparsed (see `ListCache`).
        """
        start = self._backfill_start(since)
        # A backfill reads today's list too: older working GTC orders may be carried over
        # into it, and `filter=all` only reaches orders created in its window.
        windows = [None] if start is None else [start, None]
        limit = self._config.page_limit
        by_id: dict[str | None, tuple[OrderReport, bool]] = {}
        self._listed.start()
        for window in windows:
            for page in range(1, self._config.max_pages + 1):
                orders = order_dicts(await self._api.list_orders(page, limit, window))
                for seen in self._listed.reports(tracked_orders(orders)):
                    by_id[seen[0].broker_order_id] = seen
                if len(orders) < limit:
                    break
            else:
                log.warning("Tradier order list still full after %s pages", self._config.max_pages)
        self._listed.finish()
        if start is not None:
            self._backfilled = (start, self._clock.now())
        deadline = self._deadline()
        return [
            report if complete else await self._complete(report, deadline)
            for report, complete in by_id.values()
        ]

    async def get_order(self, broker_order_id: str) -> OrderReport | None:
        """Report one order; None when Tradier says it is not in this account."""
        try:
            return await self._read(broker_order_id, "lookup")
        except UnauthorizedAccount:
            return None

    def stream(self) -> AsyncIterator[StreamItem] | None:
        """One account-events session, or None when streaming is switched off."""
        if not self._config.stream_enabled:
            return None
        stream = TradierStream(self._config, self._api, self._stream_fetch, self._clock)
        return stream.session()

    async def aclose(self) -> None:
        """Close the HTTP client if this broker made it."""
        if self._owns_client:
            await self._client.aclose()

    async def _stream_fetch(self, broker_order_id: str) -> OrderReport | None:
        try:
            return await self._read(broker_order_id, "stream")
        except UnauthorizedAccount:
            return None

    async def _read(self, broker_order_id: str, source: str) -> OrderReport:
        payload = await self._api.get_order(broker_order_id)
        return await self._complete(parse_order(payload, self.account_id, source), self._deadline())

    async def _complete(self, report: OrderReport, deadline: datetime) -> OrderReport:
        """Re-read an order shown filled before its numbers until they arrive or time is up."""
        delay = self._config.fill_data_interval_s
        attempts = 0
        while needs_fill_data(report) and report.broker_order_id is not None:
            if self._clock.now() >= deadline or attempts >= 20:
                log.warning("Tradier order %s still lacks fill data", report.broker_order_id)
                return report
            attempts += 1
            await self._sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                payload = await self._api.get_order(report.broker_order_id)
            except BrokerUnavailable:
                continue
            report = parse_order(payload, self.account_id, report.source)
        return report

    def _deadline(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._config.fill_data_deadline_s)

    def _backfill_start(self, since: datetime) -> date | None:
        """The first day a `filter=all` list must reach back to; None when today's list is
        enough: `since` is today, or a backfill made today already reached back past it
        (the polls of the first minute after midnight reach into yesterday by their slack;
        one backfill serves them all, as each later change of an older order that still
        works is looked up by id)."""
        today = self._clock.now().astimezone(EASTERN).date()
        day_start = datetime.combine(today, time(), tzinfo=EASTERN)
        if since >= day_start:
            return None
        first = max(since.astimezone(EASTERN).date(), today - timedelta(days=BACKFILL_DAYS))
        if self._backfilled is not None:
            reached, made_at = self._backfilled
            if made_at >= day_start and reached <= first:
                return None
        return first


def place_form(request: PlaceRequest) -> dict[str, str]:
    """Build Tradier's form for an order; raise BrokerRejected before sending a bad one."""
    try:
        tag = validate_client_order_id(request.client_order_id)
    except InvalidClientOrderId as error:
        raise _refused(str(error)) from None
    instrument = request.instrument
    form = {
        "symbol": instrument.symbol,
        "type": request.order_type,
        "duration": request.duration,
        "tag": tag,
    }
    if request.legs or instrument.sec_type is SecType.MULTILEG:
        form |= _legs(request)
    else:
        form |= {"side": request.side, "quantity": _number(request.quantity)}
        form["class"] = "option" if instrument.sec_type is SecType.OPTION else "equity"
        if instrument.sec_type is SecType.OPTION:
            if not instrument.option_symbol:
                raise _refused("the option has no OCC symbol")
            form["option_symbol"] = instrument.option_symbol
    if request.order_type in PRICED_TYPES:
        form["price"] = _price(request.limit_price, "limit price", request.order_type)
    if request.order_type in STOP_TYPES:
        form["stop"] = _price(request.stop_price, "stop price", request.order_type)
    return form


def _legs(request: PlaceRequest) -> dict[str, str]:
    """Index the legs; a stock leg makes it a `combo` and goes first, without option symbol."""
    if not 2 <= len(request.legs) <= 4:
        raise _refused(f"a multileg order needs 2 to 4 legs, not {len(request.legs)}")
    legs = sorted(request.legs, key=lambda leg: parse_occ(leg.option_symbol) is not None)
    form = {"class": "multileg" if parse_occ(legs[0].option_symbol) else "combo"}
    for index, leg in enumerate(legs):
        if parse_occ(leg.option_symbol) is not None:
            form[f"option_symbol[{index}]"] = leg.option_symbol
        form[f"side[{index}]"] = leg.side
        form[f"quantity[{index}]"] = _number(leg.quantity)
    return form


def _price(value: Decimal | None, what: str, order_type: str) -> str:
    if value is None:
        raise _refused(f"a {order_type} order needs a {what}")
    return _number(value)


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _refused(reason: str) -> BrokerRejected:
    return BrokerRejected(f"Order not sent to Tradier: {reason}", broker=BROKER)
