"""The fake's order entry: tickets, question chains, prompts, brackets and cancels."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.fakes.ibkr.book import Book
from tests.fakes.ibkr.model import (
    PROMPT_OPTIONS,
    PROMPT_TEXT,
    QUESTION_TEXT,
    FakeOrder,
    PendingPlace,
)

REQUIRED = ("conid", "orderType", "side", "quantity", "tif")
ORDER_TYPES = {"LMT", "MKT", "STP", "STOP_LIMIT", "MOC", "MIDPRICE", "TRAIL", "TRAILLMT"}
Answer = tuple[int, Any]


class OrderEntry:
    """Answers POST orders, replies, prompt notifications and cancels like the gateway."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.pending: dict[str, PendingPlace] = {}
        self.dropped: set[str] = set()
        self.prompts: dict[int, str] = {}
        self.next_questions: list[str] | None = None
        self.next_error: str | None = None
        self.next_prompt = False
        self.next_child_failure: str | None = None

    def place(self, account: str, body: Any) -> Answer:
        tickets = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(tickets, list) or not tickets:
            return 400, {"error": "Bad Request: orders list expected", "statusCode": 400}
        for ticket in tickets:
            problem = _check(ticket, self.book)
            if problem:
                return 400, {"error": problem, "statusCode": 400}
        if self.next_error is not None:
            text, self.next_error = self.next_error, None
            return 200, {"error": text}
        questions = self.next_questions
        self.next_questions = None
        if questions is None:
            questions = list(self.book.knobs.default_questions)
        if questions:
            return 200, self._ask(PendingPlace(account, tickets, questions, time.monotonic()))
        return 200, self._accept(account, tickets)

    def reply(self, reply_id: str, body: Any) -> Answer:
        if reply_id in self.dropped:
            return 503, {"error": "Service Unavailable", "statusCode": 503}
        pending = self.pending.pop(reply_id, None)
        if pending is None:
            return 200, {"error": f"reply id not found: '{reply_id}'"}
        if time.monotonic() - pending.created > self.book.knobs.reply_timeout_s:
            self.dropped.add(reply_id)
            return 503, {"error": "Service Unavailable", "statusCode": 503}
        if not (isinstance(body, dict) and body.get("confirmed") is True):
            return 200, {"error": "Order not confirmed "}
        if pending.questions:
            return 200, self._ask(pending)
        return 200, self._accept(pending.account, pending.tickets)

    def drop_pending(self) -> None:
        """Another request arrived mid-chain: the gateway forgets the pending order."""
        self.dropped.update(self.pending)
        self.pending.clear()

    def answer_prompt(self, body: Any) -> Answer:
        if not isinstance(body, dict):
            return 400, {"error": "Bad Request", "statusCode": 400}
        order = self.book.live(int(body.get("orderId") or 0))
        if order is None or self.prompts.pop(order.order_id, None) != str(body.get("reqId")):
            return 200, {"error": "prompt not found"}
        if body.get("text") == PROMPT_OPTIONS[-1]:
            self.book.set_status(order.order_id, "Cancelled", "Rejected by the price management")
            return 200, {"error": "Order rejected"}
        self.book.work(order, ["PreSubmitted", self.book.knobs.working_status])
        return 200, [_placed(order, "PreSubmitted")]

    def cancel(self, account: str, order_id: int) -> Answer:
        book = self.book
        with book.lock:
            if order_id == -1:  # every open order of the account: why adapters refuse it
                for order in book.session_orders():
                    if order.account == account:
                        book.request_cancel(order)
                return 200, {"msg": "Request was submitted", "order_id": -1, "conid": -1}
            order = book.live(order_id)
            if order is None or order.account != account:
                status = book.knobs.unknown_cancel_status
                return status, {"error": f"OrderID {order_id} doesn't exist"}
            book.request_cancel(order)
            if book.knobs.cancel_mode == "immediate":
                return 200, {
                    "msg": "Request was submitted",
                    "order_id": order_id,
                    "conid": -1,
                    "account": None,
                }
            return 200, {
                "msg": "Request was submitted",
                "order_id": order_id,
                "conid": order.contract.conid,
                "account": account,
            }

    # --- helpers -----------------------------------------------------------------------

    def _ask(self, pending: PendingPlace) -> list[dict[str, Any]]:
        message_id = pending.questions.pop(0)
        reply_id = str(uuid.uuid4())
        pending.created = time.monotonic()
        self.pending[reply_id] = pending
        text = QUESTION_TEXT.get(message_id, f"Please confirm ({message_id}).")
        return [
            {"id": reply_id, "isSuppressed": False, "message": [text], "messageIds": [message_id]}
        ]

    def _accept(self, account: str, tickets: list[dict[str, Any]]) -> Any:
        book = self.book
        if self.next_prompt:
            self.next_prompt = False
            order = self._record(account, tickets[0], None, status="Inactive")
            book.push_rows([order])
            req_id = str(uuid.uuid4().int % 100000)
            self.prompts[order.order_id] = req_id
            return {
                "orderId": order.order_id,
                "reqId": req_id,
                "dismissable": [],
                "text": PROMPT_TEXT,
                "options": list(PROMPT_OPTIONS),
                "type": "M",
                "messageId": "p12",
                "prompt": True,
            }
        parent = self._record(account, tickets[0], None)
        answers = [_placed(parent, "PreSubmitted")]
        children = tickets[1:]
        if children and self.next_child_failure is not None:
            text, self.next_child_failure = self.next_child_failure, None
            book.work(parent, ["Inactive"], full_row=True)
            return [
                {"order_id": "-1", "order_status": "Failed", "text": text},
                _placed(parent, "Inactive"),
            ]
        book.work(parent, ["PreSubmitted", book.knobs.working_status], full_row=True)
        for ticket in children:
            child = self._record(account, ticket, parent.order_id)
            book.work(child, ["PreSubmitted"], full_row=True)  # not elected until the parent fills
            answers.append(_placed(child, "PreSubmitted"))
        return answers

    def _record(
        self,
        account: str,
        ticket: dict[str, Any],
        parent_id: int | None,
        status: str = "PendingSubmit",
    ) -> FakeOrder:
        price = _decimal(ticket.get("price"))
        aux = _decimal(ticket.get("auxPrice"))
        return self.book.new_order(
            self.book.contracts[int(ticket["conid"])],
            side=str(ticket["side"]),
            quantity=Decimal(str(ticket["quantity"])),
            order_type=str(ticket["orderType"]),
            price=price,
            aux_price=aux,
            tif=str(ticket["tif"]),
            order_ref=ticket.get("cOID"),
            account=account,
            status=status,
            parent_id=parent_id,
            publish=False,
        )


def _placed(order: FakeOrder, status: str) -> dict[str, Any]:
    answer = {"order_id": str(order.order_id), "order_status": status, "encrypt_message": "1"}
    if order.order_ref is not None:
        answer["local_order_id"] = order.order_ref
    return answer


def _check(ticket: Any, book: Book) -> str | None:
    if not isinstance(ticket, dict):
        return "Bad Request: ticket must be an object"
    missing = [key for key in REQUIRED if key not in ticket]
    if missing:
        return f"Bad Request: missing {', '.join(missing)}"
    if str(ticket["orderType"]) not in ORDER_TYPES:
        return f"Bad Request: orderType {ticket['orderType']!r}"
    if str(ticket["side"]) not in ("BUY", "SELL"):
        return f"Bad Request: side {ticket['side']!r}"
    try:
        conid = int(ticket["conid"])
    except (TypeError, ValueError):
        return "Bad Request: conid must be a number"
    if conid not in book.contracts:
        return f"Contract {conid} not found"
    if ticket["orderType"] in ("LMT", "STOP_LIMIT") and _decimal(ticket.get("price")) is None:
        return "Bad Request: a limit order needs a price"
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None
