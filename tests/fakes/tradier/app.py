"""The fake's Tradier REST and websocket routes, with auth, quotas, faults and formats."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from tests.fakes.tradier.control import control_routes
from tests.fakes.tradier.forms import Refusal, build_order, read_form
from tests.fakes.tradier.knobs import Fault, fault_answer, token_fault
from tests.fakes.tradier.render import to_json, to_xml

if TYPE_CHECKING:
    from tests.fakes.tradier.fake import FakeTradier

Handler = Callable[[Request, bytes], Awaitable[tuple[int, Any]]]
HANG_LIMIT_S = 30.0


def build_app(fake: FakeTradier) -> Starlette:
    """Route Tradier's order, session and stream endpoints to `fake`."""

    def api(bucket: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            fake.record(request, body)
            if _bearer(request) != fake.token:
                text = token_fault("Invalid Access Token", "invalid_access_token")
                return Response(text, 401, media_type="application/json")
            fault = fake.faults.take(request.method, request.url.path)
            if fault is not None:
                return await fault_response(request, fault)
            ok, headers = fake.limits.take(fake.token, bucket)
            if not ok:
                text = f"Quota Violation: Expires {headers['X-Ratelimit-Expiry']}"
                return PlainTextResponse(text, 400, headers=headers)
            account = request.path_params.get("account")
            if account is not None and account not in fake.accounts:
                status, payload = 401, f"Unauthorized Account: {account}"
            else:
                status, payload = await handler(request, body)
            response = render(request, status, payload)
            response.headers.update(headers)
            return response

        return endpoint

    async def list_orders(request: Request, _: bytes) -> tuple[int, Any]:
        query = request.query_params
        limit = min(_int(query.get("limit"), fake.knobs.default_limit), fake.knobs.max_limit)
        page = max(_int(query.get("page"), 1), 1)
        orders = fake.book.listed(
            request.path_params["account"],
            query.get("filter", "intraday"),
            _date(query.get("start")),
            _date(query.get("end")),
        )[(page - 1) * limit : page * limit]
        tags = query.get("includeTags") == "true"
        views = [fake.book.read(order, tags) for order in orders]
        if not views:
            return 200, {"orders": "null" if fake.knobs.null_style == "string" else None}
        return 200, {"orders": {"order": views[0] if len(views) == 1 else views}}

    async def get_order(request: Request, _: bytes) -> tuple[int, Any]:
        order = _own_order(request)
        if order is None:
            return 401, f"Unauthorized Account: {request.path_params['account']}"
        tags = request.query_params.get("includeTags") == "true"
        return 200, {"order": fake.book.read(order, tags)}

    async def place(request: Request, body: bytes) -> tuple[int, Any]:
        form = read_form(body)
        refusal = fake.faults.take_refusal()
        if refusal is not None:
            status, reasons = refusal
            error = reasons[0] if len(reasons) == 1 else reasons
            return status, {"errors": {"error": error}}
        try:
            order = build_order(
                form,
                account=request.path_params["account"],
                new_id=fake.book.new_id,
                now=fake.clock(),
            )
        except Refusal as refused:
            return refused.status, refused.body
        if form.get("preview") == "true":
            return 200, {"order": {"status": "ok", "result": True, "class": order.klass}}
        fake.book.add(order)
        reason = fake.faults.take_reject_reason()
        if reason is not None:
            fake.book.move(order.id, "rejected", reason)
        lost = fake.faults.take_lost_place()
        if lost is not None:
            return 0, await fault_response(request, lost)
        return 200, {"order": {"id": order.id, "status": "ok", "partner_id": str(uuid.uuid4())}}

    async def cancel(request: Request, _: bytes) -> tuple[int, Any]:
        order = _own_order(request)
        if order is None:
            return 401, f"Unauthorized Account: {request.path_params['account']}"
        return fake.book.cancel(order)

    async def modify(request: Request, body: bytes) -> tuple[int, Any]:
        order = _own_order(request)
        if order is None:
            return 401, f"Unauthorized Account: {request.path_params['account']}"
        return fake.book.modify(order, read_form(body))

    async def session(_: Request, __: bytes) -> tuple[int, Any]:
        return 200, {"stream": {"url": fake.stream_url, "sessionid": fake.hub.new_session()}}

    def _own_order(request: Request) -> Any:
        order_id = _int(request.path_params["order_id"], -1)
        return fake.book.find(order_id, request.path_params["account"])

    async def fault_response(request: Request, fault: Fault) -> Response:
        if fault is Fault.HANG:
            await _wait_for_disconnect(request)
        if fault is Fault.DROP:
            return BrokenResponse()
        expires = fake.limits.expiry_ms_now(fake.token, "standard")
        status, text, media_type = fault_answer(fault, expires)
        return Response(text, status, media_type=media_type)

    orders = "/v1/accounts/{account}/orders"
    routes = [
        Route(orders, api("standard", list_orders), methods=["GET"]),
        Route(orders, api("trading", place), methods=["POST"]),
        Route(orders + "/{order_id}", api("standard", get_order), methods=["GET"]),
        Route(orders + "/{order_id}", api("trading", cancel), methods=["DELETE"]),
        Route(orders + "/{order_id}", api("trading", modify), methods=["PUT"]),
        Route("/v1/accounts/events/session", api("standard", session), methods=["POST"]),
        WebSocketRoute("/v1/accounts/events", fake.hub.serve),
        *control_routes(fake),
    ]
    return Starlette(routes=routes)


def render(request: Request, status: int, payload: Any) -> Response:
    """Answer in JSON when asked, else XML (Tradier's default); text stays text."""
    if isinstance(payload, Response):
        return payload
    if isinstance(payload, str):
        return PlainTextResponse(payload, status)
    if "application/json" in request.headers.get("accept", ""):
        return Response(to_json(payload), status, media_type="application/json")
    return Response(to_xml(payload), status, media_type="application/xml")


class BrokenResponse(Response):
    """A response whose connection breaks after a few bytes of the body."""

    def __init__(self) -> None:
        super().__init__(b"", 200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"512")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"order":', "more_body": True})


async def _wait_for_disconnect(request: Request) -> None:
    async def until_gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(until_gone(), HANG_LIMIT_S)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.startswith("Bearer ") else None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
