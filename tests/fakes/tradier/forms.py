"""Place forms as Tradier reads them: indexed fields, validation texts, orders built from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.tradier.orders import FakeOrder

TAG = re.compile(r"^[A-Za-z0-9-]*$")
OCC = re.compile(r"^[A-Z0-9.]{1,6}\d{6}[CP]\d{8}$")
EQUITY_SIDES = frozenset({"buy", "buy_to_cover", "sell", "sell_short"})
OPTION_SIDES = frozenset({"buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close"})
SINGLE_TYPES = frozenset({"market", "limit", "stop", "stop_limit"})
MULTI_TYPES = frozenset({"market", "debit", "credit", "even"})
DURATIONS = frozenset({"day", "gtc", "pre", "post"})
PRICED = frozenset({"limit", "stop_limit", "debit", "credit"})
STOPPED = frozenset({"stop", "stop_limit"})
ADVANCED_SIZES = {"oco": 2, "oto": 2, "otoco": 3}
STRATEGIES = {2: "spread", 3: "butterfly", 4: "condor"}


class Refusal(Exception):
    """An order Tradier refuses: the HTTP status and the body it answers with."""

    def __init__(self, status: int, body: str | dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def read_form(body: bytes) -> dict[str, str]:
    """Decode an `application/x-www-form-urlencoded` body (the last value of a key wins)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def invalid(field: str, value: object) -> Refusal:
    return Refusal(400, {"errors": {"error": f"Invalid Parameter, {field}: {value}"}})


def check_tag(form: dict[str, str]) -> str | None:
    """Return the order's tag or refuse it with Tradier's exact texts."""
    tag = form.get("tag")
    if tag is None or tag == "":
        return None
    if not TAG.match(tag):
        raise Refusal(400, "Invalid parameter, tag: contains invalid characters.")
    if len(tag) > 255:
        raise Refusal(400, "Invalid parameter, tag: contains more than 255 characters.")
    return tag


def build_order(
    form: dict[str, str], *, account: str, new_id: Callable[[], int], now: datetime
) -> FakeOrder:
    """Build the order a valid form describes (children get their own ids), or refuse it."""
    tag = check_tag(form)
    klass = form.get("class", "")
    if klass in ("equity", "option"):
        order = _single(form, klass, "", account, new_id(), now)
    elif klass in ("multileg", "combo"):
        order = _multileg(form, klass, account, new_id, now)
    elif klass in ADVANCED_SIZES:
        order = _advanced(form, klass, account, new_id, now)
    else:
        raise invalid("class", klass or "missing")
    order.tag = tag
    return order


def _single(
    form: dict[str, str], klass: str, suffix: str, account: str, order_id: int, now: datetime
) -> FakeOrder:
    symbol = _required(form, "symbol" + suffix)
    sides = OPTION_SIDES if klass == "option" else EQUITY_SIDES
    side = _choice(form, "side" + suffix, sides)
    order_type = _choice(form, "type" + suffix, SINGLE_TYPES)
    duration = _choice(form, "duration" + suffix, DURATIONS, fallback=form.get("duration"))
    if duration in ("pre", "post") and order_type != "limit":
        raise Refusal(400, f"Invalid parameter, duration: {duration} needs a limit order")
    order = FakeOrder(
        id=order_id,
        account=account,
        klass=klass,
        created=now,
        symbol=symbol.upper(),
        side=side,
        quantity=_positive(form, "quantity" + suffix),
        type=order_type,
        duration=duration,
        price=_decimal(form, "price" + suffix) if order_type in PRICED else None,
        stop=_decimal(form, "stop" + suffix) if order_type in STOPPED else None,
    )
    if klass == "option":
        order.option_symbol = _option_symbol(form, "option_symbol" + suffix)
    return order


def _multileg(
    form: dict[str, str], klass: str, account: str, new_id: Callable[[], int], now: datetime
) -> FakeOrder:
    symbol = _required(form, "symbol").upper()
    order_type = _choice(form, "type", MULTI_TYPES)
    duration = _choice(form, "duration", DURATIONS)
    price = _decimal(form, "price") if order_type in PRICED else None
    count = sum(1 for index in range(4) if f"side[{index}]" in form)
    if count < 2:
        raise invalid("side", "a multileg order needs at least 2 legs")
    parent = FakeOrder(
        id=new_id(),
        account=account,
        klass=klass,
        created=now,
        symbol=symbol,
        side="buy",
        type=order_type,
        duration=duration,
        price=price,
        strategy="covered call" if klass == "combo" else STRATEGIES.get(count, "custom"),
    )
    for index in range(count):
        stock_leg = klass == "combo" and index == 0
        leg = FakeOrder(
            id=new_id(),
            account=account,
            klass="equity" if stock_leg else "option",
            created=now,
            symbol=symbol,
            side=_choice(form, f"side[{index}]", EQUITY_SIDES if stock_leg else OPTION_SIDES),
            quantity=_positive(form, f"quantity[{index}]"),
            type=order_type,
            duration=duration,
            price=price,
            parent_id=parent.id,
        )
        if not stock_leg:
            leg.option_symbol = _option_symbol(form, f"option_symbol[{index}]")
        parent.legs.append(leg)
    parent.quantity = min(leg.quantity or Decimal(1) for leg in parent.legs)
    return parent


def _advanced(
    form: dict[str, str], klass: str, account: str, new_id: Callable[[], int], now: datetime
) -> FakeOrder:
    parent = FakeOrder(id=new_id(), account=account, klass=klass, created=now)
    for index in range(ADVANCED_SIZES[klass]):
        suffix = f"[{index}]"
        child_class = "option" if form.get("option_symbol" + suffix) else "equity"
        child = _single(form, child_class, suffix, account, new_id(), now)
        child.parent_id = parent.id
        if klass != "oco" and index > 0:
            child.opens_when_seen = False  # held until order 0 fills
        parent.legs.append(child)
    types = [child.type for child in parent.legs]
    if klass == "oco" and types[0] == types[1]:
        raise invalid("type", "the orders of an OCO must be of different types")
    if klass == "otoco" and "market" in types[1:]:
        raise invalid("type", "only the first order of an OTOCO may be a market order")
    return parent


def _required(form: dict[str, str], key: str) -> str:
    value = form.get(key, "").strip()
    if not value:
        raise invalid(key, "missing")
    return value


def _choice(
    form: dict[str, str], key: str, allowed: frozenset[str], fallback: str | None = None
) -> str:
    value = form.get(key) or fallback or ""
    if value not in allowed:
        raise invalid(key, value or "missing")
    return value


def _decimal(form: dict[str, str], key: str) -> Decimal:
    try:
        return Decimal(_required(form, key))
    except InvalidOperation:
        raise invalid(key, form.get(key)) from None


def _positive(form: dict[str, str], key: str) -> Decimal:
    value = _decimal(form, key)
    if value <= 0:
        raise invalid(key, value)
    return value


def _option_symbol(form: dict[str, str], key: str) -> str:
    value = _required(form, key)
    if not OCC.match(value):
        raise invalid(key, value)
    return value
