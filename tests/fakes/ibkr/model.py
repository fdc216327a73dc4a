"""The fake gateway's records: contracts, orders, executions and the knobs that bend behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

ZERO = Decimal(0)
WORKING = frozenset(
    {"Inactive", "PendingSubmit", "PreSubmitted", "Submitted", "WarnState", "PendingCancel"}
)
TERMINAL = frozenset({"Filled", "Cancelled"})


@dataclass
class Contract:
    """A tradable contract the fake knows by conid."""

    conid: int
    symbol: str  # the underlying's symbol for options
    sec_type: str = "STK"
    company: str = ""
    exchange: str = "NASDAQ.NMS"
    expiry: date | None = None
    strike: Decimal | None = None
    right: str | None = None  # C or P
    underlying_conid: int | None = None

    @property
    def description2(self) -> str | None:
        """IBKR's option line, `"JUN 28 '24 192.5 Call"`."""
        if self.sec_type != "OPT" or self.expiry is None or self.strike is None:
            return None
        strike = format(self.strike.normalize(), "f")
        right = "Call" if self.right == "C" else "Put"
        return f"{self.expiry:%b %d '%y}".upper() + f" {strike} {right}"


@dataclass
class FakeOrder:
    """One order as the gateway keeps it."""

    order_id: int
    account: str
    contract: Contract
    side: str  # BUY or SELL
    quantity: Decimal
    order_type: str  # LMT, MKT, STP, STOP_LIMIT, MOC
    tif: str
    status: str
    session: int
    updated_at: datetime
    price: Decimal | None = None
    aux_price: Decimal | None = None
    order_ref: str | None = None
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    reason: str | None = None
    parent_id: int | None = None

    @property
    def remaining(self) -> Decimal:
        return max(self.quantity - self.filled, ZERO)

    @property
    def avg_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None

    @property
    def working(self) -> bool:
        return self.status in WORKING


@dataclass
class FakeExecution:
    """One execution against an order."""

    execution_id: str
    order: FakeOrder
    size: Decimal
    price: Decimal
    at: datetime
    row_text: str = ""  # its `/iserver/account/trades` row as JSON (`Book.fill` writes it)


@dataclass
class PendingPlace:
    """A placement waiting for answers to its questions."""

    account: str
    tickets: list[dict[str, object]]
    questions: list[str]
    created: float


@dataclass
class Knobs:
    """Switches for behaviour BROKERS.md calls unconfirmed or intermittent."""

    hb_interval_s: float = 10.0
    authenticated: bool = True
    sor_silent: bool = False  # never push `sor` (some paper builds)
    drop_frames: int = 0  # drop the next N `sor`/`str` frames
    duplicate_frames: bool = False  # push every `sor`/`str` frame twice
    sor_snapshot_every_subscribe: bool = False  # False: full rows once per session only
    str_order_id: bool = True  # False: `str` rows without `order_id` (old docs)
    ws_price_as_number: bool = False  # old WS samples carried `price` as a number
    accept_cookie: bool = True
    accept_session_frame: bool = True
    empty_first_orders_call: bool = False
    empty_first_trades_call: bool = False
    filtered_answers_empty: bool = False
    max_rows: int | None = 1000
    orders_min_interval_s: float | None = None  # calls closer than this get 429
    reply_timeout_s: float = 30.0
    drop_pending_on_other_request: bool = True
    cancel_mode: str = "deferred"  # or "immediate" (conid -1, account null)
    cancel_delay_s: float | None = 0.0  # None: PendingCancel until complete_cancel()
    unknown_cancel_status: int = 200  # docs: 200; live: 400
    working_status: str = "Submitted"
    default_questions: list[str] = field(default_factory=list)


QUESTION_TEXT: dict[str, str] = {
    "o354": "You are submitting an order without market data. We strongly recommend against "
    "this as it may result in erroneous and unexpected trades.\nAre you sure you want to "
    "submit this order?",
    "o163": "The following order exceeds the price percentage limit.\nAre you sure you want "
    "to submit this order?",
    "o383": "The following order size exceeds the Size Limit.\nAre you sure you want to "
    "submit this order?",
    "o10151": "Warning: your order will be held until the market opens.",
}
PROMPT_TEXT = (
    "If your order is not immediately executable, our systems may, depending on market "
    "conditions, reject your order if its limit price is more that the allowed amount away "
    "from the reference price at that time.\nUse the Price Management Algo?"
)
PROMPT_OPTIONS = ["Use on this order", "Always use", "Do not use"]
