"""What an order trades: a stock or an option (one or more legs), and OCC symbol parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

_OCC = re.compile(r"^(?P<root>[A-Z0-9.]{1,6}?)(?P<ymd>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


class SecType(StrEnum):
    """The kind of security an instrument is."""

    STOCK = "STK"
    OPTION = "OPT"
    MULTILEG = "MULTILEG"
    OTHER = "OTHER"


@dataclass(frozen=True)
class Instrument:
    """One tradable thing as ordertrail needs it: enough to match alerts and price trades."""

    symbol: str
    sec_type: SecType = SecType.STOCK
    option_symbol: str | None = None
    strike: Decimal | None = None
    right: str | None = None  # "C" or "P"
    expiry: date | None = None
    contract_id: str | None = None
    multiplier: Decimal = Decimal(1)

    @property
    def is_option(self) -> bool:
        return self.sec_type is SecType.OPTION


def parse_occ(option_symbol: str) -> Instrument | None:
    """Read an OCC option symbol such as `SPY180720C00274000`; None when it is not one."""
    match = _OCC.match(option_symbol.replace(" ", ""))
    if match is None:
        return None
    ymd = match["ymd"]
    try:
        expiry = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:6]))
    except ValueError:
        return None
    return Instrument(
        symbol=match["root"],
        sec_type=SecType.OPTION,
        option_symbol=option_symbol,
        strike=Decimal(match["strike"]) / 1000,
        right=match["right"],
        expiry=expiry,
        multiplier=Decimal(100),
    )


def occ_symbol(symbol: str, expiry: date, right: str, strike: Decimal) -> str:
    """Build the OCC symbol for an option (the inverse of `parse_occ`)."""
    return f"{symbol.upper()}{expiry:%y%m%d}{right.upper()}{int(strike * 1000):08d}"


def option_instrument(
    symbol: str,
    strike: Decimal,
    right: str,
    expiry: date | None = None,
    contract_id: str | None = None,
) -> Instrument:
    """Describe an option from its parts (OCC symbol filled in when the expiry is known)."""
    right = right.upper()[:1]
    return Instrument(
        symbol=symbol.upper(),
        sec_type=SecType.OPTION,
        option_symbol=occ_symbol(symbol, expiry, right, strike) if expiry else None,
        strike=strike,
        right=right,
        expiry=expiry,
        contract_id=contract_id,
        multiplier=Decimal(100),
    )
