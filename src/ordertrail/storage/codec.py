"""Turning domain values into JSON-able dicts and back (instruments, legs, alert updates)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from ordertrail.domain.instrument import Instrument, SecType
from ordertrail.domain.proposal import ProposalLeg


def instrument_to_json(instrument: Instrument) -> dict[str, Any]:
    """Describe an instrument as plain JSON."""
    return {
        "symbol": instrument.symbol,
        "sec_type": instrument.sec_type.value,
        "option_symbol": instrument.option_symbol,
        "strike": str(instrument.strike) if instrument.strike is not None else None,
        "right": instrument.right,
        "expiry": instrument.expiry.isoformat() if instrument.expiry else None,
        "contract_id": instrument.contract_id,
        "multiplier": str(instrument.multiplier),
    }


def instrument_from_json(data: Mapping[str, Any]) -> Instrument:
    """Read an instrument written by `instrument_to_json`."""
    return Instrument(
        symbol=data["symbol"],
        sec_type=SecType(data.get("sec_type") or "STK"),
        option_symbol=data.get("option_symbol"),
        strike=Decimal(data["strike"]) if data.get("strike") is not None else None,
        right=data.get("right"),
        expiry=date.fromisoformat(data["expiry"]) if data.get("expiry") else None,
        contract_id=data.get("contract_id"),
        multiplier=Decimal(data.get("multiplier") or "1"),
    )


def legs_to_json(legs: tuple[ProposalLeg, ...]) -> list[dict[str, str]]:
    """Describe proposal legs as plain JSON."""
    return [
        {"option_symbol": leg.option_symbol, "side": leg.side, "quantity": str(leg.quantity)}
        for leg in legs
    ]


def legs_from_json(data: list[Mapping[str, str]] | None) -> tuple[ProposalLeg, ...]:
    """Read legs written by `legs_to_json`."""
    return tuple(
        ProposalLeg(
            option_symbol=d["option_symbol"], side=d["side"], quantity=Decimal(d["quantity"])
        )
        for d in data or []
    )
