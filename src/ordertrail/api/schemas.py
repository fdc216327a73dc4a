"""Response schemas: what the API answers (decimals are strings, times ISO 8601 UTC)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

Money = Annotated[str, Field(description="A decimal, written as a string", examples=["2.45"])]
Time = Annotated[str, Field(description="ISO 8601, UTC", examples=["2026-01-05T15:00:00+00:00"])]


class BoardOrderPublic(BaseModel):
    """The order behind a proposal, as the Proposals & Orders board shows it."""

    id: int
    status: str
    side: str | None
    brokerStatus: str | None
    avgFillPrice: Money | None
    brokerOrderId: str | None
    clientOrderId: str | None
    filledQuantity: Money | None
    remainingQuantity: Money | None
    quantity: Money | None
    reason: str | None
    updatedAt: Time | None


class BoardTradePublic(BaseModel):
    """The trade a proposal opened or closes."""

    id: int
    status: str
    quantity: Money | None
    entryPrice: Money | None
    exitQuantity: Money | None
    exitPrice: Money | None
    realizedPnl: Money | None


class ProposalAndOrderPublic(BaseModel):
    """One proposal with its real order status, lifecycle line and linked trade."""

    id: int
    proposalKind: str = Field(examples=["ENTRY"])
    proposalStatus: str
    broker: str
    accountId: str
    symbol: str
    optionSymbol: str | None
    strike: str | None
    right: str | None
    expiry: str | None
    side: str
    quantity: Money | None
    orderType: str
    limitPrice: Money | None
    linkedTradeId: int | None
    clientOrderId: str | None
    note: str | None
    createdAt: Time | None
    updatedAt: Time | None
    order: BoardOrderPublic | None
    lifecycleStatus: str = Field(examples=["Entry partially filled (3/5)"])
    trade: BoardTradePublic | None


class ProposalsAndOrdersPublic(BaseModel):
    """A page of proposals; pass `nextBefore` as `before` for the next page."""

    data: list[ProposalAndOrderPublic]
    count: int
    nextBefore: int | None


class OrderPublic(BaseModel):
    """One order at one broker account (decimals as strings)."""

    id: int
    broker: str
    account_id: str
    broker_order_id: str | None
    client_order_id: str | None
    side: str | None
    status: str
    broker_status: str | None
    symbol: str | None
    option_symbol: str | None
    quantity: Money | None
    filled_quantity: Money | None
    remaining_quantity: Money | None
    avg_fill_price: Money | None
    proposal_id: int | None
    trade_id: int | None
    external: bool
    flags: list[str]
    created_at: Time
    updated_at: Time


class OrdersPublic(BaseModel):
    """A page of orders; pass `next_before` as `before` for the next page."""

    data: list[OrderPublic]
    count: int
    next_before: int | None


class OrderEventPublic(BaseModel):
    """One event of an order's timeline, with the raw broker payload that caused it."""

    seq: int
    kind: str
    status_before: str | None
    status_after: str
    broker_status: str | None
    filled_quantity: Money | None
    avg_fill_price: Money | None
    message: str
    source: str
    payload: Any = None
    broker_ts: Time | None
    recorded_at: Time


class FillPublic(BaseModel):
    """One execution against an order."""

    execution_id: str
    quantity: Money | None
    price: Money | None
    synthetic: bool
    executed_at: Time | None


class OrderDetailPublic(BaseModel):
    """One order, its whole event timeline and its fills."""

    order: OrderPublic
    events: list[OrderEventPublic]
    fills: list[FillPublic]


class TradePublic(BaseModel):
    """A position's life: opened by an ENTRY fill, closed by an EXIT fill."""

    id: int
    status: str
    broker: str
    account_id: str
    symbol: str
    option_symbol: str | None
    strike: str | None
    right: str | None
    direction: str
    quantity: Money | None
    open_quantity: Money | None
    entry_price: Money | None
    exit_quantity: Money | None
    exit_price: Money | None
    realized_pnl: Money | None
    opened_at: Time | None
    closed_at: Time | None
    broker_order_id_open: str | None
    broker_order_id_close: str | None
    updated_at: Time | None


class TradesPublic(BaseModel):
    """A page of trades; pass `next_before` as `before` for the next page."""

    data: list[TradePublic]
    count: int
    next_before: int | None


class TradeDetailPublic(TradePublic):
    """One trade with the orders that opened and closed it."""

    orders: list[OrderPublic]


class AlertPublic(BaseModel):
    """One alerter's idea, its open flag and the last order update that touched it."""

    id: int
    source: str
    key: str
    symbol: str
    open: bool
    strike: Money | None
    right: str | None
    expiry: str | None
    contract_id: str | None
    created_at: str | None
    last_order_update: Any = None
    updated_at: Time | None


class AlertsPublic(BaseModel):
    """Alerts by alerter, then symbol."""

    data: list[AlertPublic]
    count: int


class AlertsImported(BaseModel):
    """How many alerts each alerter's import held."""

    imported: dict[str, int]


class ProposalCancelled(BaseModel):
    """A cancelled (or cancel-requested) proposal and its order, if it had one."""

    proposal: ProposalAndOrderPublic
    order: OrderPublic | None


class LinkPublic(BaseModel):
    """A linked proposal or trade."""

    id: int
    kind: str | None = None
    status: str | None = None


class AlertLinkPublic(BaseModel):
    """An alert an order matched (or could not choose between)."""

    id: int
    source: str
    key: str
    symbol: str
    open: bool
    matched: bool


class BrokerOrderPublic(BaseModel):
    """A broker order, what it maps to, and flags for what looks wrong."""

    order_id: int
    broker: str
    account_id: str
    broker_order_id: str | None
    client_order_id: str | None
    external: bool
    status: str
    broker_status: str | None
    symbol: str | None
    option_symbol: str | None
    side: str | None
    broker_side: str | None
    quantity: Money | None
    filled_quantity: Money | None
    remaining_quantity: Money | None
    avg_fill_price: Money | None
    fills_count: int
    fills_quantity: Money | None
    fills_avg_price: Money | None
    last_broker_ts: Time | None
    updated_at: Time | None
    proposal: LinkPublic | None
    trade: LinkPublic | None
    alerts: list[AlertLinkPublic]
    ambiguous_sources: list[str]
    flags: list[str] = Field(
        description="unmatched, ambiguous, quantity_mismatch, price_mismatch, stale, missing"
    )
    order_flags: list[str]


class BrokerOrdersPublic(BaseModel):
    """A page of broker orders; pass `next_before` as `before` for the next page."""

    data: list[BrokerOrderPublic]
    count: int
    next_before: int | None
