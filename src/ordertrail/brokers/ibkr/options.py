"""Option contracts as IBKR describes them: `description2` text and `secdef/info` rows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ordertrail.brokers.ibkr.values import decimal_or_none, id_text
from ordertrail.domain.instrument import Instrument, SecType, option_instrument

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
# "JUN 28 '24 192.5 Call"; exchange details may follow, a symbol may precede.
_DESCRIPTION = re.compile(
    r"(?P<mon>[A-Z]{3})\s+(?P<day>\d{1,2})\s+'(?P<yy>\d{2})\s+"
    r"(?P<strike>\d+(?:\.\d+)?)\s+(?P<right>CALL|PUT)\b",
    re.IGNORECASE,
)
RIGHT_MAP: dict[str, str] = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
SEC_TYPE_MAP: dict[str, SecType] = {
    "STK": SecType.STOCK,
    "OPT": SecType.OPTION,
    "BAG": SecType.MULTILEG,
}


@dataclass(frozen=True)
class OptionTerms:
    """What an option description says: expiry, strike and right."""

    expiry: date
    strike: Decimal
    right: str


def parse_option_description(text: str | None) -> OptionTerms | None:
    """Read `"JUN 28 '24 192.5 Call"` (anywhere in `text`); None when it is not one."""
    if not text:
        return None
    match = _DESCRIPTION.search(text)
    if match is None:
        return None
    month = _MONTHS.get(match["mon"].upper())
    if month is None:
        return None
    try:
        expiry = date(2000 + int(match["yy"]), month, int(match["day"]))
        strike = Decimal(match["strike"])
    except (ValueError, InvalidOperation):
        return None
    return OptionTerms(expiry=expiry, strike=strike, right=RIGHT_MAP[match["right"].upper()])


def instrument_from_secdef(row: Mapping[str, Any], underlying: str | None = None) -> Instrument:
    """Describe an option from one `/iserver/secdef/info` row."""
    symbol = str(underlying or row.get("symbol") or row.get("desc1") or "")
    expiry = _yyyymmdd(row.get("maturityDate"))
    strike = decimal_or_none(row.get("strike"))
    right = RIGHT_MAP.get(str(row.get("right") or "").upper())
    contract_id = id_text(row.get("conid"))
    if strike is None or right is None:
        terms = parse_option_description(row.get("desc2"))
        if terms is None:
            return Instrument(symbol=symbol, sec_type=SecType.OPTION, contract_id=contract_id)
        strike, right, expiry = terms.strike, terms.right, expiry or terms.expiry
    instrument = option_instrument(symbol, strike, right, expiry, contract_id)
    multiplier = decimal_or_none(row.get("multiplier"))
    if multiplier is not None and multiplier != instrument.multiplier:
        instrument = replace(instrument, multiplier=multiplier)
    return instrument


def build_instrument(
    sec_type: str | None,
    symbol: str | None,
    conid: Any,
    descriptions: tuple[str | None, ...],
    known: Mapping[str, Instrument] | None = None,
) -> Instrument | None:
    """Describe what a row trades; options come from a description or the `known` cache."""
    contract_id = id_text(conid)
    if known is not None and contract_id is not None and contract_id in known:
        return known[contract_id]
    if not symbol and not sec_type:
        return None
    kind = SEC_TYPE_MAP.get(str(sec_type or "STK").upper(), SecType.OTHER)
    name = str(symbol or "").upper()
    if kind is not SecType.OPTION:
        return Instrument(symbol=name, sec_type=kind, contract_id=contract_id)
    for text in descriptions:
        terms = parse_option_description(text)
        if terms is not None:
            return option_instrument(name, terms.strike, terms.right, terms.expiry, contract_id)
    return Instrument(
        symbol=name, sec_type=SecType.OPTION, contract_id=contract_id, multiplier=Decimal(100)
    )


def needs_terms(instrument: Instrument | None) -> bool:
    """Tell whether an option still lacks its strike, right or expiry."""
    return (
        instrument is not None
        and instrument.is_option
        and instrument.contract_id is not None
        and (instrument.strike is None or instrument.right is None or instrument.expiry is None)
    )


def secdef_month(expiry: date) -> str:
    """Write the `month` parameter of `secdef/info` (`JUN24`)."""
    return expiry.strftime("%b%y").upper()


def _yyyymmdd(value: Any) -> date | None:
    text = str(value or "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None
