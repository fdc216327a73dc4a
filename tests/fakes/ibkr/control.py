"""`/_fake/...`: drive the fake gateway over HTTP from another process."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.fakes.ibkr.server import FakeIbkrGateway


def control_routes(gateway: FakeIbkrGateway) -> list[Route]:
    """Routes mirroring the Python control API of `FakeIbkrGateway`."""

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}

    async def create(request: Request) -> JSONResponse:
        data = await body(request)
        if "expiry" in data:
            data["expiry"] = date.fromisoformat(data["expiry"])
        for key in ("quantity", "price", "strike"):
            if data.get(key) is not None:
                data[key] = Decimal(str(data[key]))
        return JSONResponse({"order_id": gateway.create_order(**data)})

    async def fill(request: Request) -> JSONResponse:
        data = await body(request)
        order_id = int(request.path_params["order_id"])
        ids = gateway.fill(order_id, Decimal(str(data["quantity"])), Decimal(str(data["price"])))
        return JSONResponse({"execution_id": ids})

    async def act(request: Request) -> JSONResponse:
        order_id = int(request.path_params["order_id"])
        action = request.path_params["action"]
        data = await body(request)
        if action == "cancel":
            gateway.cancel(order_id)
        elif action == "complete_cancel":
            gateway.complete_cancel(order_id)
        elif action == "expire":
            gateway.expire(order_id)
        elif action == "reject":
            gateway.reject(order_id, str(data.get("text", "Rejected")))
        else:
            return JSONResponse({"error": f"unknown action {action}"}, 404)
        return JSONResponse({"ok": True})

    async def knobs(request: Request) -> JSONResponse:
        data = await body(request)
        names = {f.name for f in dataclasses.fields(gateway.knobs)}
        unknown = set(data) - names
        if unknown:
            return JSONResponse({"error": f"unknown knobs {sorted(unknown)}"}, 400)
        gateway.set(**data)
        return JSONResponse(dataclasses.asdict(gateway.knobs))

    async def fault(request: Request) -> JSONResponse:
        data = await body(request)
        gateway.fail_next(
            int(data.get("count", 1)), int(data.get("status", 503)), str(data.get("path", ""))
        )
        return JSONResponse({"ok": True})

    async def session(request: Request) -> JSONResponse:
        gateway.new_session()
        return JSONResponse({"session": gateway.book.session})

    async def drop(request: Request) -> JSONResponse:
        gateway.drop_websockets()
        return JSONResponse({"ok": True})

    async def questions(request: Request) -> JSONResponse:
        data = await body(request)
        gateway.ask_on_next_place(*data.get("message_ids", ["o354"]))
        return JSONResponse({"ok": True})

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(gateway.describe())

    return [
        Route("/_fake/orders", create, methods=["POST"]),
        Route("/_fake/orders/{order_id}/fill", fill, methods=["POST"]),
        Route("/_fake/orders/{order_id}/{action}", act, methods=["POST"]),
        Route("/_fake/knobs", knobs, methods=["POST"]),
        Route("/_fake/faults", fault, methods=["POST"]),
        Route("/_fake/session", session, methods=["POST"]),
        Route("/_fake/websockets/drop", drop, methods=["POST"]),
        Route("/_fake/questions", questions, methods=["POST"]),
        Route("/_fake/state", state, methods=["GET"]),
    ]
