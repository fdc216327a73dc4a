"""`/_fake/...`: the fake's control API over HTTP, for drivers in another process."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.tradier.orders import Step
from tests.fakes.tradier.render import to_json

if TYPE_CHECKING:
    from tests.fakes.tradier.fake import FakeTradier

Action = Callable[[dict[str, Any], dict[str, Any]], Any]


def control_routes(fake: FakeTradier) -> list[Route]:
    """Every control operation of `FakeTradier`, as `POST /_fake/...` with a JSON body."""

    def route(path: str, action: Action, method: str = "POST") -> Route:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw, parse_float=Decimal) if raw else {}
                result = action(body, dict(request.path_params))
            except (KeyError, ValueError, TypeError) as error:
                return JSONResponse({"error": str(error)}, 400)
            return Response(to_json({"ok": True, "result": result}), media_type="application/json")

        return Route("/_fake" + path, endpoint, methods=[method])

    def order_id(params: dict[str, Any]) -> int:
        return int(params["order_id"])

    def create(body: dict[str, Any], _: dict[str, Any]) -> int:
        return fake.create_order(**body)

    def fill(body: dict[str, Any], params: dict[str, Any]) -> str:
        return fake.fill(order_id(params), body["quantity"], body["price"]).status

    def script(body: dict[str, Any], params: dict[str, Any]) -> int:
        steps = [Step(**step) for step in body["steps"]]
        steps = [_decimals(step) for step in steps]
        fake.script(order_id(params), steps)
        return len(steps)

    return [
        route("/state", lambda _, __: fake.state(), "GET"),
        route("/reset", lambda _, __: fake.reset()),
        route("/knobs", lambda body, _: fake.set_knobs(**body)),
        route("/limits", lambda body, _: fake.set_limits(**body)),
        route("/orders", create),
        route("/orders/{order_id}", lambda _, p: fake.order_view(order_id(p)), "GET"),
        route("/orders/{order_id}/fill", fill),
        route("/orders/{order_id}/status", lambda b, p: fake.set_status(order_id(p), **b).status),
        route("/orders/{order_id}/cancel", lambda _, p: fake.cancel(order_id(p)).status),
        route("/orders/{order_id}/expire", lambda _, p: fake.expire(order_id(p)).status),
        route("/orders/{order_id}/reject", lambda b, p: fake.reject(order_id(p), **b).status),
        route("/orders/{order_id}/script", script),
        route("/orders/{order_id}/advance", lambda _, p: fake.advance(order_id(p))),
        route("/tick", lambda _, __: fake.tick()),
        route("/faults", lambda body, _: fake.inject(**body)),
        route("/lose-next-place", lambda body, _: fake.lose_next_place(**body)),
        route("/refuse-next-place", lambda body, _: fake.refuse_next_place(**body)),
        route("/reject-next-place", lambda body, _: fake.reject_next_place(**body)),
        route("/stream/disconnect", lambda _, __: fake.disconnect_streams()),
        route("/requests", lambda _, __: fake.request_log(), "GET"),
    ]


def _decimals(step: Step) -> Step:
    quantity = Decimal(str(step.quantity)) if step.quantity is not None else None
    price = Decimal(str(step.price)) if step.price is not None else None
    return Step(step.kind, quantity, price, step.status, step.reason)
