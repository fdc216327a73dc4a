"""How the fake writes its records on the wire, with IBKR's mix of numbers and strings."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.fakes.ibkr.model import FakeExecution, FakeOrder

ORDER_TYPE_WORD = {
    "LMT": "Limit",
    "MKT": "Market",
    "STP": "Stop",
    "STOP_LIMIT": "Stop Limit",
    "MOC": "MARKETONCLOSE",
}
ORIG_ORDER_TYPE = {
    "LMT": "LIMIT",
    "MKT": "MARKET",
    "STP": "STOP",
    "STOP_LIMIT": "STOP_LIMIT",
    "MOC": "MARKETONCLOSE",
}
COLOURS = {"Filled": ("#FFFFFF", "#000000"), "Cancelled": ("#FFFFFF", "#AD0000")}


def money(value: Decimal | None) -> str:
    """Write a price the way rows do (`"457.00"`, `""` when none)."""
    return "" if value is None else f"{value:.2f}"


def average(value: Decimal | None) -> str:
    """Write an average price (`"192.26"`, `"3.085"`; `""` before any fill)."""
    if value is None:
        return ""
    text = format(value.quantize(Decimal("0.000001")).normalize(), "f")
    return text if "." in text and len(text.split(".")[1]) >= 2 else f"{value:.2f}"


def number(value: Decimal) -> float:
    return float(value)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def size_and_fills(order: FakeOrder) -> str:
    filled = format(order.filled.normalize(), "f")
    if order.status == "Filled":
        return filled
    return f"{filled}/{format(order.quantity.normalize(), 'f')}"


def order_desc(order: FakeOrder) -> str:
    verb = {"BUY": "Buy", "SELL": "Sell"}.get(order.side, order.side)
    price = f" {money(order.price)}" if order.price is not None else ""
    kind = ORDER_TYPE_WORD.get(order.order_type, order.order_type)
    text = f"{verb} {format(order.quantity.normalize(), 'f')} {kind}{price}, {order.tif.title()}"
    return f"Cancelled: {text}" if order.status == "Cancelled" else text


def order_row(order: FakeOrder, *, price_as_number: bool = False) -> dict[str, Any]:
    """A full `/iserver/account/orders` row (also the first `sor` row of an order)."""
    contract = order.contract
    bg, fg = COLOURS.get(order.status, ("#000000", "#00F000"))
    row: dict[str, Any] = {
        "acct": order.account,
        "conidex": str(contract.conid),
        "conid": contract.conid,
        "account": order.account,
        "orderId": order.order_id,
        "cashCcy": "USD",
        "sizeAndFills": size_and_fills(order),
        "orderDesc": order_desc(order),
        "description1": contract.symbol,
        "ticker": contract.symbol,
        "secType": contract.sec_type,
        "listingExchange": contract.exchange,
        "remainingQuantity": number(order.remaining),
        "filledQuantity": number(order.filled),
        "totalSize": number(order.quantity),
        "companyName": contract.company,
        "status": order.status,
        "order_ccp_status": order.status,
        "origOrderType": ORIG_ORDER_TYPE.get(order.order_type, order.order_type),
        "supportsTaxOpt": "1",
        "lastExecutionTime": f"{order.updated_at:%y%m%d%H%M%S}",
        "orderType": ORDER_TYPE_WORD.get(order.order_type, order.order_type),
        "bgColor": bg,
        "fgColor": fg,
        "timeInForce": order.tif,
        "lastExecutionTime_r": ms(order.updated_at),
        "side": order.side,
        "price": _price(order.price, price_as_number),
    }
    if contract.description2:
        row["description2"] = contract.description2
    if order.avg_price is not None:
        row["avgPrice"] = average(order.avg_price)
    if order.order_ref is not None:
        row["order_ref"] = order.order_ref
    if order.reason is not None:
        row["order_cancellation_by_system_reason"] = order.reason
    if order.parent_id is not None:
        row["parentId"] = order.parent_id
    return row


def fill_delta(order: FakeOrder, status_changed: bool) -> dict[str, Any]:
    """A sparse `sor` delta after a fill: only what changed."""
    delta: dict[str, Any] = {
        "acct": order.account,
        "orderId": order.order_id,
        "sizeAndFills": size_and_fills(order),
        "remainingQuantity": number(order.remaining),
        "filledQuantity": number(order.filled),
        "avgPrice": average(order.avg_price),
        "lastExecutionTime": f"{order.updated_at:%y%m%d%H%M%S}",
        "lastExecutionTime_r": ms(order.updated_at),
    }
    if status_changed:
        delta.update(status_delta(order))
    return delta


def status_delta(order: FakeOrder, status: str | None = None) -> dict[str, Any]:
    """A sparse `sor` delta naming a new status (and a reason when there is one)."""
    status = status or order.status
    bg, fg = COLOURS.get(status, ("#000000", "#00F000"))
    delta: dict[str, Any] = {
        "acct": order.account,
        "orderId": order.order_id,
        "status": status,
        "bgColor": bg,
        "fgColor": fg,
    }
    if status == "Cancelled":
        delta["orderDesc"] = order_desc(order)
        delta["remainingQuantity"] = number(order.remaining)
        if order.reason:
            delta["order_cancellation_by_system_reason"] = order.reason
    return delta


def order_status(order: FakeOrder) -> dict[str, Any]:
    """The `/iserver/account/order/status/{id}` answer: snake_case and string numbers."""
    contract = order.contract
    body: dict[str, Any] = {
        "sub_type": None,
        "request_id": "209",
        "server_id": "0",
        "order_id": order.order_id,
        "conidex": str(contract.conid),
        "conid": contract.conid,
        "symbol": contract.symbol,
        "side": order.side[:1],
        "contract_description_1": contract.symbol,
        "listing_exchange": contract.exchange,
        "company_name": contract.company,
        "size": f"{order.remaining:.1f}",
        "total_size": f"{order.quantity:.1f}",
        "currency": "USD",
        "account": order.account,
        "order_type": ORIG_ORDER_TYPE.get(order.order_type, order.order_type),
        "cum_fill": f"{order.filled:.1f}",
        "order_status": order.status,
        "order_ccp_status": "2" if order.status == "Filled" else "0",
        "order_status_description": f"Order {order.status}",
        "tif": order.tif,
        "sec_type": contract.sec_type,
        "order_description": order_desc(order),
        "size_and_fills": size_and_fills(order),
        "order_time": f"{order.updated_at:%y%m%d%H%M%S}",
    }
    if contract.description2:
        body["contract_description_2"] = contract.description2
    if order.price is not None:
        body["limit_price"] = money(order.price)
    if order.avg_price is not None:
        body["average_price"] = average(order.avg_price)
    return body


def trade_text(execution: FakeExecution) -> str:
    """`trade_row` for `/iserver/account/trades`, as the JSON text the answer holds."""
    return json.dumps(trade_row(execution), ensure_ascii=False, separators=(",", ":"))


def trade_row(execution: FakeExecution, *, websocket: bool = False, order_id: bool = True) -> dict:
    """One execution as `/iserver/account/trades` (or `str`, with `conid` a string) shows it."""
    order = execution.order
    contract = order.contract
    verb = "Bot" if order.side == "BUY" else "Sold"
    size = format(execution.size.normalize(), "f")
    row: dict[str, Any] = {
        "execution_id": execution.execution_id,
        "symbol": contract.symbol,
        "supports_tax_opt": "1",
        "side": "B" if order.side == "BUY" else "S",
        "order_description": f"{verb} {size} @ {execution.price} on ISLAND",
        "trade_time": f"{execution.at:%Y%m%d-%H:%M:%S}",
        "trade_time_r": ms(execution.at),
        "size": number(execution.size),
        "price": str(execution.price),
        "submitter": "user1234",
        "exchange": "ISLAND",
        "commission": "0.65",
        "net_amount": number(execution.size * execution.price),
        "account": order.account,
        "accountCode": order.account,
        "company_name": contract.company,
        "contract_description_1": contract.symbol,
        "sec_type": contract.sec_type,
        "listing_exchange": contract.exchange,
        "conid": str(contract.conid) if websocket else contract.conid,
        "conidex" if websocket else "conidEx": str(contract.conid),
        "clearing_id": "IB",
        "clearing_name": "IB",
        "liquidation_trade": "0",
    }
    if contract.description2:
        row["contract_description_2"] = contract.description2
    if order.order_ref is not None:
        row["order_ref"] = order.order_ref
    if order_id:
        row["order_id"] = order.order_id
    return row


def _price(value: Decimal | None, as_number: bool) -> Any:
    if value is None:
        return ""
    return float(value) if as_number else money(value)
