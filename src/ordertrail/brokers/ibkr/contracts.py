"""Contract ids and option terms at IBKR: conid lookups and a cache of option terms by conid."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ordertrail.brokers.ibkr.http import IbkrHttp
from ordertrail.brokers.ibkr.options import instrument_from_secdef, needs_terms, secdef_month
from ordertrail.brokers.ibkr.values import id_text
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.report import OrderReport
from ordertrail.errors import BrokerError, BrokerRejected

log = logging.getLogger(__name__)

BROKER = "ibkr"


class ContractBook:
    """Find the conid to place an instrument with and fill in option terms rows leave out."""

    def __init__(self, http: IbkrHttp) -> None:
        self._http = http
        self.options: dict[str, Instrument] = {}
        self._failed: set[str] = set()

    async def complete(self, report: OrderReport) -> OrderReport:
        """Give an option report the strike, right and expiry it lacks, from `secdef/info`."""
        instrument = report.instrument
        if instrument is None or not needs_terms(instrument):
            return report
        assert instrument.contract_id is not None
        known = self.options.get(instrument.contract_id)
        if known is None and instrument.contract_id not in self._failed:
            known = await self._lookup_option(instrument.contract_id, instrument.symbol)
        return report if known is None else replace(report, instrument=known)

    async def conid_for(self, instrument: Instrument) -> str:
        """Return the conid to place `instrument` with (its own `contract_id` when set)."""
        if instrument.contract_id:
            return instrument.contract_id
        underlying = await self._stock_conid(instrument.symbol)
        if not instrument.is_option:
            return underlying
        if instrument.expiry is None or instrument.strike is None or instrument.right is None:
            raise BrokerRejected(
                f"option {instrument.symbol} needs expiry, strike and right (or a conid)",
                broker=BROKER,
            )
        rows = await self._http.secdef_info(
            underlying,
            "OPT",
            month=secdef_month(instrument.expiry),
            strike=format(instrument.strike.normalize(), "f"),
            right=instrument.right,
        )
        wanted = instrument.expiry.strftime("%Y%m%d")
        for row in _rows(rows):
            if str(row.get("maturityDate")) == wanted and row.get("right") == instrument.right:
                conid = id_text(row.get("conid"))
                if conid is not None:
                    self.options[conid] = replace(instrument, contract_id=conid)
                    return conid
        raise BrokerRejected(
            f"IBKR lists no {instrument.symbol} {wanted} {instrument.strike} {instrument.right} "
            "option; check the contract",
            broker=BROKER,
        )

    async def _stock_conid(self, symbol: str) -> str:
        for row in _rows(await self._http.secdef_search(symbol)):
            sections = row.get("sections") or [{"secType": "STK"}]
            is_stock = any(isinstance(s, dict) and s.get("secType") == "STK" for s in sections)
            conid = id_text(row.get("conid"))
            if conid is not None and is_stock and str(row.get("symbol", symbol)) == symbol:
                return conid
        raise BrokerRejected(f"IBKR finds no stock named {symbol!r}", broker=BROKER)

    async def _lookup_option(self, conid: str, underlying: str) -> Instrument | None:
        try:
            rows = _rows(await self._http.secdef_info(conid, "OPT"))
        except BrokerError as error:
            log.warning("IBKR secdef/info for option %s failed: %s", conid, error)
            return None
        matching = [r for r in rows if id_text(r.get("conid")) == conid]
        if not matching and len(rows) == 1:
            matching = rows
        if not matching:
            self._failed.add(conid)
            return None
        instrument = instrument_from_secdef(matching[0], underlying=underlying or None)
        if needs_terms(instrument):
            self._failed.add(conid)
            return None
        self.options[conid] = replace(instrument, contract_id=conid)
        return self.options[conid]


def _rows(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        body = [body]
    return [row for row in body if isinstance(row, dict)] if isinstance(body, list) else []
