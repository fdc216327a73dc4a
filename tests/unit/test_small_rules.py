"""Client order ids, lifecycle text, alert matching and trade P&L."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from ordertrail.domain.alert import Alert
from ordertrail.domain.ids import (
    InvalidClientOrderId,
    make_client_order_id,
    proposal_id_from_client_order_id,
    validate_client_order_id,
)
from ordertrail.domain.instrument import Instrument, SecType, option_instrument, parse_occ
from ordertrail.domain.lifecycle import lifecycle_text
from ordertrail.domain.matching import match_alerts
from ordertrail.domain.proposal import ProposalKind as K
from ordertrail.domain.status import OrderStatus as S
from ordertrail.domain.trade import (
    Direction,
    Trade,
    TradeStatus,
    entry_filled,
    exits_filled,
    open_trade,
)
from ordertrail.web.render import when

SPY = Instrument("SPY")


def test_client_order_id_has_prefix_proposal_side_and_timestamp() -> None:
    at = datetime(2026, 3, 4, 15, 30, 1, 250000, tzinfo=UTC)
    cid = make_client_order_id("ordertrail", 42, K.ENTRY, at)
    assert cid == "ordertrail-42-ENTRY-20260304T153001250Z"
    assert proposal_id_from_client_order_id(cid, "ordertrail") == 42
    assert proposal_id_from_client_order_id("other-42-ENTRY-x", "ordertrail") is None


@pytest.mark.parametrize("bad", ["", "has space", "under_score", "x" * 256, "émoji"])
def test_client_order_ids_brokers_refuse_are_refused(bad: str) -> None:
    with pytest.raises(InvalidClientOrderId):
        validate_client_order_id(bad)


def test_lifecycle_lines() -> None:
    assert lifecycle_text(K.ENTRY, S.PARTIAL, filled=D(3), quantity=D(5)) == (
        "Entry partially filled (3/5)"
    )
    assert lifecycle_text(K.ENTRY, S.FILLED, trade_status=TradeStatus.OPEN) == (
        "Entry filled – trade OPEN"
    )
    assert lifecycle_text(K.EXIT, S.PLACED, trade_status=TradeStatus.OPEN) == (
        "Exit working – trade OPEN"
    )
    assert lifecycle_text(K.EXIT, S.FILLED, trade_status=TradeStatus.CLOSED) == (
        "Exit filled – trade CLOSED"
    )
    assert lifecycle_text(K.ENTRY, S.REJECTED, reason="no funds") == "Rejected: no funds"
    assert lifecycle_text(K.ENTRY, S.CANCELLED) == "Entry cancelled"


def test_occ_symbols_parse() -> None:
    option = parse_occ("SPY180720C00274000")
    assert option is not None
    assert (option.symbol, option.strike, option.right, option.expiry) == (
        "SPY",
        D(274),
        "C",
        date(2018, 7, 20),
    )
    assert parse_occ("AAPL") is None


def _alert(source: str, strike: str | None, right: str | None = None) -> Alert:
    return Alert(
        id=hash((source, strike)),
        source=source,
        key="TSLA",
        symbol="TSLA",
        strike=D(strike) if strike else None,
        right=right,
    )


def test_alerts_match_by_symbol_then_strike_across_alerters() -> None:
    call95 = option_instrument("TSLA", D(95), "C")
    alerts = [
        _alert("A", "95", "C"),
        _alert("B", "95"),
        _alert("C", "100"),
        Alert(id=9, source="D", key="AAPL", symbol="AAPL"),
    ]
    match = match_alerts(call95, alerts)
    assert sorted(a.source for a in match.matched) == ["A", "B"]
    assert not match.ambiguous


def test_ambiguous_alerter_is_reported_not_guessed() -> None:
    alerts = [
        Alert(id=1, source="A", key="TSLA", symbol="TSLA", strike=D(95)),
        Alert(id=2, source="A", key="TSLA-100", symbol="TSLA", strike=D(100)),
    ]
    match = match_alerts(Instrument("TSLA", SecType.OPTION), alerts)
    assert match.matched == () and match.ambiguous_sources == ("A",)


def test_long_option_trade_pnl_uses_the_multiplier() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    trade = open_trade(
        broker="t",
        account_id="A",
        instrument=option_instrument("TSLA", D(95), "C"),
        side="buy_to_open",
        filled=D(2),
        avg_price=D("2.40"),
        broker_order_id="1",
        at=at,
    )
    closed = exits_filled(trade, [(D(2), D("3.10"))], "2", at)
    assert trade.direction is Direction.LONG
    assert closed.status is TradeStatus.CLOSED and closed.realized_pnl == D("140.00")


def test_short_stock_trade_pnl() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    trade = _opened(at, instrument=Instrument("AAPL"), side="sell_short")
    assert exits_filled(trade, [(D(10), D(90))], "2", at).realized_pnl == D(100)


def _opened(
    at: datetime, filled: int = 10, instrument: Instrument = SPY, side: str = "buy"
) -> Trade:
    """A trade its ENTRY order opened: `filled` at 100."""
    return open_trade(
        broker="t",
        account_id="A",
        instrument=instrument,
        side=side,
        filled=D(filled),
        avg_price=D(100),
        broker_order_id="1",
        at=at,
    )


def _long_ten(at: datetime) -> Trade:
    return _opened(at)


def test_an_exit_of_part_of_the_position_leaves_the_trade_open() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    half = exits_filled(_long_ten(at), [(D(5), D(110))], "2", at)
    assert (half.status, half.exit_quantity, half.realized_pnl) == (TradeStatus.OPEN, 5, 50)
    assert half.closed_at is None


def test_several_exit_orders_add_up_at_their_weighted_price() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    closed = exits_filled(_long_ten(at), [(D(5), D(110)), (D(5), D(120))], "3", at)
    assert (closed.exit_quantity, closed.exit_price, closed.realized_pnl) == (10, 115, 150)
    assert closed.status is TradeStatus.CLOSED and closed.closed_at == at
    # A cancelled exit's part fill counts with the next exit's: 6 @ 110 and 4 @ 90.
    mixed = exits_filled(_long_ten(at), [(D(6), D(110)), (D(4), D(90)), (D(0), None)], "4", at)
    assert (mixed.exit_price, mixed.realized_pnl, mixed.status) == (102, 20, TradeStatus.CLOSED)


def test_an_exit_average_that_does_not_divide_evenly_keeps_ten_decimals() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    trade = exits_filled(_long_ten(at), [(D(1), D(100)), (D(1), D(100)), (D(1), D(101))], "2", at)
    assert trade.exit_price == D("100.3333333333")


def test_an_exit_filled_before_its_price_is_known_waits_for_it() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    unpriced = exits_filled(_long_ten(at), [(D(10), None)], "2", at)
    assert (unpriced.status, unpriced.exit_price, unpriced.realized_pnl) == (
        TradeStatus.CLOSED,
        None,
        None,
    )
    priced = exits_filled(unpriced, [(D(10), D(105))], "2", at)
    assert (priced.exit_price, priced.realized_pnl) == (105, 50)


def test_entry_filling_further_after_the_trade_closed_opens_it_again() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    later = datetime(2026, 1, 2, tzinfo=UTC)
    four = _opened(at, filled=4)
    closed = exits_filled(four, [(D(4), D(110))], "2", at)
    assert closed.status is TradeStatus.CLOSED
    reopened = entry_filled(closed, D(10), D(100), later)
    assert (reopened.status, reopened.closed_at, reopened.open_quantity) == (
        TradeStatus.OPEN,
        None,
        6,
    )
    assert reopened.realized_pnl == 40


def test_an_order_on_another_contract_id_never_matches_the_alerts_contract() -> None:
    # IBKR names an option it cannot describe by its conid alone (no strike, right, expiry).
    alert = Alert(
        id=1,
        source="RealDayTrading",
        key="TSLA",
        symbol="TSLA",
        strike=D(95),
        right="C",
        contract_id="622542959",
    )
    other = Instrument("TSLA", SecType.OPTION, contract_id="700000001", multiplier=D(100))
    same = Instrument("TSLA", SecType.OPTION, contract_id="622542959", multiplier=D(100))
    assert match_alerts(other, [alert]).matched == ()
    assert match_alerts(same, [alert]).matched == (alert,)


def test_pages_show_times_in_utc_and_claim_no_zone_for_a_time_without_one() -> None:
    assert when("2026-01-05T10:00:03-05:00") == "2026-01-05 15:00:03Z"  # an alerter's local
    assert when("2026-01-05T15:00:03+00:00") == "2026-01-05 15:00:03Z"
    assert when("2026-01-05T10:00:03") == "2026-01-05 10:00:03"  # zone unknown: as written
    assert when(None) == "–" and when("soon") == "soon"
