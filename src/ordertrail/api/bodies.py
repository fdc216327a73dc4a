"""Request bodies: what the API accepts, validated before anything is stored."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from ordertrail.domain.instrument import Instrument, SecType, option_instrument, parse_occ
from ordertrail.domain.proposal import ProposalKind, ProposalLeg
from ordertrail.errors import InvalidRequest
from ordertrail.services.alerts_io import MAX_STRIKE, read_strike
from ordertrail.services.test_message import ShortMessage
from ordertrail.storage.tables import MAX_ID

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _occ_expiry(value: date | None) -> date | None:
    if value is not None and not 2000 <= value.year <= 2099:
        raise ValueError(
            "an option's expiry year must be 2000 to 2099 (OCC symbols hold two digits)"
        )
    return value


Symbol = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9./ -]+$"),
    AfterValidator(_not_blank),
]
OccSymbol = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9. ]+$")]
Quantity = Annotated[Decimal, Field(gt=0, lt=10**9, decimal_places=8)]
Price = Annotated[Decimal, Field(gt=-(10**9), lt=10**9, decimal_places=8)]
Text = Annotated[str, Field(max_length=500, pattern=r"^[^\x00]*$")]
Word = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z_]+$")]


class InstrumentIn(BaseModel):
    """A stock by symbol, or an option by OCC symbol or by its parts (an OCC symbol holds a
    strike below 100,000 to 3 decimals and a two-digit expiry year)."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    option_symbol: OccSymbol | None = None
    strike: Annotated[Decimal, Field(gt=0, lt=100_000, decimal_places=3)] | None = None
    right: Literal["C", "P"] | None = None
    expiry: Annotated[date | None, AfterValidator(_occ_expiry)] = None
    contract_id: Name | None = None

    def to_domain(self) -> Instrument:
        """Build the domain instrument; say what is missing for an option."""
        if self.option_symbol:
            parsed = parse_occ(self.option_symbol)
            if parsed is None:
                raise InvalidRequest(
                    f"option_symbol {self.option_symbol!r} is not an OCC symbol "
                    "(like TSLA260116C00095000)"
                )
            return Instrument(
                symbol=parsed.symbol,
                sec_type=SecType.OPTION,
                option_symbol=parsed.option_symbol,
                strike=parsed.strike,
                right=parsed.right,
                expiry=parsed.expiry,
                contract_id=self.contract_id,
                multiplier=parsed.multiplier,
            )
        if self.strike is not None or self.right is not None:
            if self.strike is None or self.right is None:
                raise InvalidRequest("an option needs both strike and right (C or P)")
            return option_instrument(
                self.symbol, self.strike, self.right, self.expiry, self.contract_id
            )
        return Instrument(symbol=self.symbol.upper(), contract_id=self.contract_id)


class LegIn(BaseModel):
    """One leg of a multi-leg proposal."""

    model_config = ConfigDict(extra="forbid")

    option_symbol: OccSymbol
    side: Word
    quantity: Quantity


class ProposalCreate(BaseModel):
    """A new proposal. ENTRY needs an instrument and a quantity; EXIT needs `linked_trade_id`.

    `broker` and `account_id` may be left out when exactly one account is configured (and, for
    an EXIT, they default to the trade's).
    """

    model_config = ConfigDict(
        extra="forbid",  # a misspelt field (`limitPrice`) must not become a market order
        json_schema_extra={
            "examples": [
                {
                    "kind": "ENTRY",
                    "instrument": {"symbol": "TSLA", "strike": "95", "right": "C"},
                    "quantity": "5",
                    "order_type": "limit",
                    "limit_price": "2.40",
                },
                {"kind": "EXIT", "linked_trade_id": 1},
            ]
        },
    )

    kind: ProposalKind
    broker: Name | None = None
    account_id: Name | None = None
    instrument: InstrumentIn | None = None
    side: Word | None = None
    quantity: Quantity | None = None
    order_type: Word = "market"
    limit_price: Price | None = None
    duration: Word = "day"
    linked_trade_id: Id | None = None
    legs: Annotated[list[LegIn], Field(max_length=8)] = []
    note: Text | None = None

    def domain_legs(self) -> tuple[ProposalLeg, ...]:
        """The legs as the domain holds them."""
        return tuple(ProposalLeg(leg.option_symbol, leg.side, leg.quantity) for leg in self.legs)


FreeText = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
Amount = Annotated[Decimal, Field(ge=0, lt=10**9)]


class ShortMessageIn(BaseModel):
    """The seed's short test message; `broker`/`accountId` default to the first account."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "orderId": "TEST_12345",
                    "status": "FILLED",
                    "symbol": "TSLA",
                    "strike": 95,
                    "right": "C",
                    "filledQuantity": 10,
                }
            ]
        },
    )

    orderId: FreeText | Annotated[int, Field(ge=0, le=MAX_ID)]
    status: FreeText
    symbol: Symbol | None = None
    strike: Annotated[Decimal, Field(gt=0, lt=10**7)] | None = None
    right: Literal["C", "P", "c", "p", "CALL", "PUT", "call", "put"] | None = None
    expiry: date | None = None
    conid: FreeText | Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    optionSymbol: OccSymbol | None = None
    filledQuantity: Amount | None = None
    avgFillPrice: Amount | None = None
    quantity: Amount | None = None
    remainingQuantity: Amount | None = None
    side: Word | None = None
    clientOrderId: FreeText | None = None
    broker: Name | None = None
    accountId: Name | None = None

    def to_message(self) -> ShortMessage:
        """The service's short message."""
        return ShortMessage(
            order_id=str(self.orderId),
            status=self.status,
            symbol=self.symbol,
            strike=self.strike,
            right=self.right[:1].upper() if self.right else None,
            expiry=self.expiry,
            contract_id=str(self.conid) if self.conid is not None else None,
            option_symbol=self.optionSymbol,
            filled_quantity=self.filledQuantity,
            avg_fill_price=self.avgFillPrice,
            quantity=self.quantity,
            remaining_quantity=self.remainingQuantity,
            side=self.side,
            client_order_id=self.clientOrderId,
        )


class BrokerMessageIn(BaseModel):
    """A raw message in a broker's own format, parsed by that broker's parser."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "broker": "tradier",
                    "message": {
                        "order": {
                            "id": 228175,
                            "status": "filled",
                            "symbol": "SPY",
                            "side": "buy",
                            "quantity": 10,
                            "exec_quantity": 10,
                            "avg_fill_price": 450.12,
                        }
                    },
                }
            ]
        }
    )

    broker: Literal["tradier", "ibkr", "paper"]
    message: dict[str, Any] | list[dict[str, Any]]
    account_id: Name | None = None


TestMessageIn = BrokerMessageIn | ShortMessageIn


def _strike(value: str) -> str:
    """The import's own rule for a strike (`alerts_io.read_strike`), as a field error."""
    try:
        read_strike("alert", value.strip())
    except InvalidRequest as error:
        raise ValueError(str(error).removeprefix("alert: ")) from error
    return value


def _iso_time(value: str) -> str:
    datetime.fromisoformat(value)
    return value


class AlertDetailsIn(BaseModel):
    """An alert's `alert_details`: ticker, strike, side (C/P) and optionally expiry."""

    model_config = ConfigDict(extra="allow")

    ticker: Symbol | None = None
    strike: (
        Annotated[str, AfterValidator(_strike)]
        | Annotated[float, Field(ge=0, lt=MAX_STRIKE)]
        | None
    ) = None
    side: Annotated[str, Field(max_length=8)] | None = None
    expiry: Annotated[str, Field(max_length=10)] | None = None


class LastOrderUpdateIn(BaseModel):
    """An alert's `last_order_update` as the alerters write it."""

    model_config = ConfigDict(extra="allow")

    order_id: FreeText | int
    status: FreeText
    filled_qty: Amount
    updated_at: Annotated[str, Field(max_length=40), AfterValidator(_iso_time)]


class AlertEntryIn(BaseModel):
    """One alert entry of an alerter's file (unknown keys are kept as they are)."""

    model_config = ConfigDict(extra="allow")

    open: StrictBool = False
    created_at: Annotated[str, Field(max_length=64)] | None = None
    option_conid: Annotated[int, Field(ge=0, le=MAX_ID)] | Name | None = None
    alert_details: AlertDetailsIn | None = None
    last_order_update: LastOrderUpdateIn | None = None
