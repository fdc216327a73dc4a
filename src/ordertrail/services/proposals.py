"""Creating proposals: ENTRY needs an instrument and a quantity, EXIT an open trade."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ordertrail.clock import Clock
from ordertrail.domain.events import normalise
from ordertrail.domain.instrument import Instrument, SecType, parse_occ
from ordertrail.domain.proposal import Proposal, ProposalKind, ProposalLeg, ProposalStatus
from ordertrail.domain.trade import ORDER_ACTIONS, Direction, TradeStatus
from ordertrail.errors import InvalidRequest, NotFound
from ordertrail.storage.uow import UnitOfWork

ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit", "debit", "credit", "even"})
DURATIONS = frozenset({"day", "gtc", "pre", "post"})


@dataclass(frozen=True)
class NewProposal:
    """What a caller asks for; an EXIT may leave instrument, side and quantity to its trade."""

    kind: ProposalKind
    broker: str
    account_id: str
    instrument: Instrument | None = None
    side: str | None = None
    quantity: Decimal | None = None
    order_type: str = "market"
    limit_price: Decimal | None = None
    duration: str = "day"
    linked_trade_id: int | None = None
    legs: tuple[ProposalLeg, ...] = ()
    note: str | None = None


def create_proposal(uow: UnitOfWork, request: NewProposal, clock: Clock) -> Proposal:
    """Validate and store a proposal (status NEW)."""
    if request.order_type not in ORDER_TYPES:
        raise InvalidRequest(
            f"order_type {request.order_type!r} is not one of {sorted(ORDER_TYPES)}"
        )
    if request.duration not in DURATIONS:
        raise InvalidRequest(f"duration {request.duration!r} is not one of {sorted(DURATIONS)}")
    if request.side is not None and request.side not in ORDER_ACTIONS:
        raise InvalidRequest(f"side {request.side!r} is not one of {sorted(ORDER_ACTIONS)}")
    for leg in request.legs:
        if leg.side not in ORDER_ACTIONS:
            raise InvalidRequest(
                f"leg {leg.option_symbol}: side {leg.side!r} is not one of {sorted(ORDER_ACTIONS)}"
            )
    if request.order_type != "market" and request.limit_price is None:
        raise InvalidRequest(f"a {request.order_type} order needs limit_price")
    if request.order_type == "market" and request.limit_price is not None:
        raise InvalidRequest(
            "a market order takes no limit_price: make it a limit order, or leave the price out"
        )
    if request.limit_price is not None and request.limit_price <= 0 and not request.legs:
        raise InvalidRequest(
            f"limit_price {normalise(request.limit_price)} is not above 0; only an order with "
            "legs (a spread) may be priced at 0 or as a credit (below 0)"
        )
    with uow:
        entry = request.kind is ProposalKind.ENTRY
        proposal = _entry(request) if entry else _exit(uow, request)
        proposal_id = uow.proposals.add(proposal, clock.now())
        stored = uow.proposals.get(proposal_id)
        uow.commit()
    assert stored is not None
    return stored


def _entry(request: NewProposal) -> Proposal:
    if request.instrument is None or not request.instrument.symbol:
        raise InvalidRequest("an ENTRY proposal needs an instrument (symbol, or option details)")
    if request.quantity is None or request.quantity <= 0:
        raise InvalidRequest("an ENTRY proposal needs a quantity greater than 0")
    if request.linked_trade_id is not None:
        raise InvalidRequest("an ENTRY proposal opens a new trade; leave linked_trade_id empty")
    default_side = "buy_to_open" if request.instrument.is_option else "buy"
    instrument = _spread(request.instrument, request.legs) if request.legs else request.instrument
    return _proposal(request, instrument, request.side or default_side, request.quantity)


def _spread(underlying: Instrument, legs: tuple[ProposalLeg, ...]) -> Instrument:
    """What an order with legs trades: the legs together, priced net per unit of the order
    (for option legs, per contract: x100, the multiplier its trade's P&L needs)."""
    options = all(parse_occ(leg.option_symbol) is not None for leg in legs)
    return Instrument(
        symbol=underlying.symbol.upper(),
        sec_type=SecType.MULTILEG,
        multiplier=Decimal(100) if options else Decimal(1),
    )


def _exit(uow: UnitOfWork, request: NewProposal) -> Proposal:
    if request.linked_trade_id is None:
        raise InvalidRequest("an EXIT proposal needs linked_trade_id, the open trade it closes")
    trade = uow.trades.get(request.linked_trade_id)
    if trade is None:
        raise NotFound(f"trade {request.linked_trade_id} does not exist")
    if trade.status is not TradeStatus.OPEN:
        raise InvalidRequest(
            f"trade {trade.id} is {trade.status.value}; only an OPEN trade can exit"
        )
    if trade.broker != request.broker or trade.account_id != request.account_id:
        raise InvalidRequest(
            f"trade {trade.id} lives at {trade.broker}/{trade.account_id}; exit it there"
        )
    if request.instrument is not None and not _same_contract(request.instrument, trade.instrument):
        raise InvalidRequest(
            f"trade {trade.id} holds {_named(trade.instrument)}; an EXIT of it cannot trade "
            f"{_named(request.instrument)} (leave the instrument out)"
        )
    quantity = request.quantity or trade.open_quantity
    if quantity <= 0 or quantity > trade.open_quantity:
        raise InvalidRequest(f"exit quantity must be between 0 and {trade.open_quantity} (open)")
    long = trade.direction is Direction.LONG
    if trade.instrument.is_option:
        side = "sell_to_close" if long else "buy_to_close"
    else:
        side = "sell" if long else "buy_to_cover"
    return _proposal(request, trade.instrument, request.side or side, quantity)


def _same_contract(asked: Instrument, held: Instrument) -> bool:
    """Tell whether an instrument can name the held one: the same symbol and kind, and no
    detail known on both sides that differs (the EXIT trades the held one either way)."""
    if asked.symbol.upper() != held.symbol.upper() or asked.sec_type is not held.sec_type:
        return False
    return all(
        mine is None or theirs is None or mine == theirs
        for mine, theirs in (
            (asked.option_symbol, held.option_symbol),
            (asked.strike, held.strike),
            (asked.right, held.right),
            (asked.expiry, held.expiry),
            (asked.contract_id, held.contract_id),
        )
    )


def _named(instrument: Instrument) -> str:
    return instrument.option_symbol or instrument.symbol


def _proposal(
    request: NewProposal, instrument: Instrument, side: str, quantity: Decimal
) -> Proposal:
    return Proposal(
        id=0,
        kind=request.kind,
        status=ProposalStatus.NEW,
        broker=request.broker,
        account_id=request.account_id,
        instrument=instrument,
        side=side,
        quantity=quantity,
        order_type=request.order_type,
        limit_price=request.limit_price,
        duration=request.duration,
        linked_trade_id=request.linked_trade_id,
        legs=request.legs,
        note=request.note,
    )
