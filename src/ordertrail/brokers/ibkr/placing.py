"""Placing at IBKR: the order ticket, the place answers and the question/reply chain."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ordertrail.brokers.ibkr.config import IbkrConfig
from ordertrail.brokers.ibkr.http import IbkrHttp
from ordertrail.brokers.ibkr.values import id_text, text_or_none
from ordertrail.domain.trade import ORDER_ACTIONS
from ordertrail.errors import BrokerRejected, BrokerUnavailable
from ordertrail.ports import PlaceRequest

log = logging.getLogger(__name__)

BROKER = "ibkr"
ORDER_TYPE_TO_IBKR: dict[str, str] = {
    "market": "MKT",
    "limit": "LMT",
    "stop": "STP",
    "stop_limit": "STOP_LIMIT",
}
DURATION_TO_IBKR: dict[str, str] = {
    "day": "DAY",
    "gtc": "GTC",
    "ioc": "IOC",
    "opg": "OPG",
}


@dataclass(frozen=True)
class PlaceAnswer:
    """One answer of the place/reply chain, classified."""

    kind: str  # placed, question, prompt, error, failed, unreadable
    order_id: str | None = None
    order_status: str | None = None
    text: str | None = None
    reply_id: str | None = None
    message_ids: tuple[str, ...] = ()
    req_id: str | None = None
    options: tuple[str, ...] = ()
    raw: Any = field(default=None, compare=False)


def build_ticket(request: PlaceRequest, conid: str) -> dict[str, Any]:
    """Write the JSON ticket for one order, carrying our client order id as `cOID`."""
    if request.legs:
        raise BrokerRejected(
            "multi-leg orders are not supported at IBKR yet; place each leg", broker=BROKER
        )
    side = ORDER_ACTIONS.get(request.side.lower())
    order_type = ORDER_TYPE_TO_IBKR.get(request.order_type.lower())
    tif = DURATION_TO_IBKR.get(request.duration.lower())
    if side is None or order_type is None or tif is None:
        raise BrokerRejected(
            f"IBKR cannot place side {request.side!r}, type {request.order_type!r}, "
            f"duration {request.duration!r}; use buy/sell, market/limit/stop/stop_limit, day/gtc"
        )
    ticket: dict[str, Any] = {
        "conid": int(conid),
        "orderType": order_type,
        "side": side,
        "quantity": _number(request.quantity),
        "tif": tif,
        "cOID": request.client_order_id,
    }
    if order_type in ("LMT", "STOP_LIMIT"):
        if request.limit_price is None:
            raise BrokerRejected(f"a {request.order_type} order needs a limit price")
        ticket["price"] = _number(request.limit_price)
    if order_type in ("STP", "STOP_LIMIT"):
        if request.stop_price is None:
            raise BrokerRejected(f"a {request.order_type} order needs a stop price")
        key = "auxPrice" if order_type == "STOP_LIMIT" else "price"
        ticket[key] = _number(request.stop_price)
    return ticket


def classify(body: Any) -> PlaceAnswer:
    """Say what a place, reply or prompt answer means."""
    if isinstance(body, dict):
        if body.get("prompt") is True or ("messageId" in body and "options" in body):
            return PlaceAnswer(
                "prompt",
                order_id=id_text(body.get("orderId")),
                text=text_or_none(body.get("text")),
                req_id=id_text(body.get("reqId")),
                message_ids=tuple(filter(None, [text_or_none(body.get("messageId"))])),
                options=tuple(str(o) for o in _listed(body.get("options"))),
                raw=body,
            )
        if body.get("error"):
            return PlaceAnswer("error", text=str(body["error"]).strip(), raw=body)
        body = [body]
    if not isinstance(body, list) or not body or not all(isinstance(x, dict) for x in body):
        return PlaceAnswer("unreadable", text=f"unexpected answer {body!r}", raw=body)
    first: Mapping[str, Any] = body[0]
    if "id" in first and ("message" in first or "messageIds" in first):
        return PlaceAnswer(
            "question",
            reply_id=str(first["id"]),
            text=" ".join(str(m) for m in first.get("message") or ()),
            message_ids=tuple(str(m) for m in first.get("messageIds") or ()),
            raw=body,
        )
    failed = [x for x in body if x.get("order_status") == "Failed" or x.get("order_id") == "-1"]
    if failed:
        texts = [str(x.get("text") or "refused") for x in failed]
        others = [str(x.get("order_id")) for x in body if x not in failed]
        suffix = f" (other orders of the group: {', '.join(others)})" if others else ""
        return PlaceAnswer("failed", text="; ".join(texts) + suffix, raw=body)
    order_id = id_text(first.get("order_id"))
    if order_id is None:
        return PlaceAnswer("unreadable", text=f"answer without order id {body!r}", raw=body)
    return PlaceAnswer(
        "placed",
        order_id=order_id,
        order_status=text_or_none(first.get("order_status")),
        raw=body,
    )


async def run_chain(
    http: IbkrHttp,
    config: IbkrConfig,
    tickets: list[dict[str, Any]],
    ready: Callable[[], Awaitable[None]] | None = None,
) -> PlaceAnswer:
    """Place and answer every question by policy, holding the account meanwhile.

    Return the `placed` answer; raise BrokerRejected on a refusal and BrokerUnavailable when
    the answer cannot be read (the order may be at the broker).
    """
    async with http.exclusive():
        if ready is not None:  # the ticket leaves now, whatever waits came before
            await ready()
        answer = classify(await http.place_orders(config.account_id, tickets))
        for _ in range(config.max_questions):
            if answer.kind == "placed":
                return answer
            if answer.kind in ("error", "failed"):
                raise BrokerRejected(f"IBKR refused the order: {answer.text}", broker=BROKER)
            if answer.kind == "unreadable":
                raise BrokerUnavailable(
                    f"IBKR answered the order with something unreadable ({answer.text}); "
                    "the outcome is unknown until a sync finds it by cOID",
                    broker=BROKER,
                )
            if answer.kind == "question":
                answer = await _answer_question(http, config, answer)
            else:
                answer = await _answer_prompt(http, config, answer)
        if answer.kind == "placed":
            return answer
    raise BrokerUnavailable(
        f"IBKR kept asking questions after {config.max_questions} answers; "
        "check the gateway for a pending order",
        broker=BROKER,
    )


def allowed(config: IbkrConfig, message_ids: tuple[str, ...]) -> bool:
    """Tell whether policy lets us confirm questions with these message ids."""
    policy = config.confirm_message_ids
    return policy is None or (bool(message_ids) and all(m in policy for m in message_ids))


async def _answer_question(http: IbkrHttp, config: IbkrConfig, answer: PlaceAnswer) -> PlaceAnswer:
    assert answer.reply_id is not None
    if not allowed(config, answer.message_ids):
        await http.reply(answer.reply_id, False)
        raise BrokerRejected(
            f"IBKR asked {list(answer.message_ids)} ({answer.text}); not confirmed by policy. "
            "Add the message id to confirm_message_ids to accept it",
            broker=BROKER,
        )
    log.info("confirming IBKR question %s", list(answer.message_ids))
    return classify(await http.reply(answer.reply_id, True))


async def _answer_prompt(http: IbkrHttp, config: IbkrConfig, answer: PlaceAnswer) -> PlaceAnswer:
    choice = config.prompt_choice
    if not allowed(config, answer.message_ids) or not 0 <= choice < len(answer.options):
        raise BrokerRejected(f"IBKR rejected the order with a prompt: {answer.text}", broker=BROKER)
    if answer.order_id is None or answer.req_id is None:
        raise BrokerRejected(
            f"IBKR prompt without order or request id: {answer.text}", broker=BROKER
        )
    log.info("answering IBKR prompt %s with %r", list(answer.message_ids), answer.options[choice])
    body = await http.answer_prompt(answer.order_id, answer.req_id, answer.options[choice])
    if isinstance(body, (dict, list)) and body:
        return classify(body)
    return PlaceAnswer("placed", order_id=answer.order_id, raw=body)  # a bare acknowledgement


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _listed(value: Any) -> list[Any]:
    """A list the gateway sent, or none for anything else."""
    return value if isinstance(value, list) else []
