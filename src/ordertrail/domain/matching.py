"""Matching an order's instrument to alerts: symbol first, then strike, right and expiry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ordertrail.domain.alert import Alert
from ordertrail.domain.instrument import Instrument


@dataclass(frozen=True)
class AlertMatch:
    """The alerts an order matches, and the alerters where the match was ambiguous."""

    matched: tuple[Alert, ...]
    ambiguous_sources: tuple[str, ...]
    candidates: tuple[Alert, ...]

    @property
    def ambiguous(self) -> bool:
        return bool(self.ambiguous_sources)


def match_alerts(instrument: Instrument, alerts: Iterable[Alert]) -> AlertMatch:
    """Find every alert, across all alerters, that this instrument answers.

    Each alerter may hold one idea per symbol; when an alerter has several candidates
    that the order's details cannot tell apart, none of them is taken and the alerter is
    reported as ambiguous.
    """
    symbol = instrument.symbol.upper()
    by_source: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        if alert.symbol.upper() == symbol and _compatible(instrument, alert):
            by_source[alert.source].append(alert)
    matched: list[Alert] = []
    ambiguous: list[str] = []
    candidates: list[Alert] = []
    for source in sorted(by_source):
        found = _narrow(instrument, by_source[source])
        candidates.extend(found)
        if len(found) == 1:
            matched.extend(found)
        elif len(found) > 1:
            ambiguous.append(source)
    return AlertMatch(tuple(matched), tuple(ambiguous), tuple(candidates))


def _compatible(instrument: Instrument, alert: Alert) -> bool:
    """Refuse alerts whose known details contradict the order's known details. A broker's
    contract id names one contract exactly: the same one matches whatever else is unknown,
    another one never does."""
    if instrument.contract_id and alert.contract_id:
        return instrument.contract_id == alert.contract_id
    if (
        instrument.strike is not None
        and alert.strike is not None
        and instrument.strike != alert.strike
    ):
        return False
    if instrument.right and alert.right and instrument.right.upper() != alert.right.upper():
        return False
    return not (instrument.expiry and alert.expiry and instrument.expiry != alert.expiry)


def _narrow(instrument: Instrument, found: list[Alert]) -> list[Alert]:
    """Among one alerter's candidates, prefer those naming the order's exact details."""
    if len(found) <= 1:
        return found
    for attribute in ("contract_id", "strike", "right", "expiry"):
        wanted = getattr(instrument, attribute)
        if wanted is None:
            continue
        exact = [a for a in found if getattr(a, attribute) == wanted]
        if exact:
            found = exact
        if len(found) == 1:
            break
    return found
