"""The FastAPI application: built around a bootstrapped `App`, watchers run in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ordertrail.bootstrap import App
from ordertrail.errors import InvalidRequest, NotFound, OrdertrailError
from ordertrail.services import queries
from ordertrail.services.sync import sync_account


def create_app(
    app: App,
    *,
    run_watchers: bool = True,
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> FastAPI:
    """Build the HTTP application over `app`; `background` runs beside the watchers (the demo)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(app.run_watchers())] if run_watchers else []
        if background is not None:
            tasks.append(asyncio.create_task(background()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    api = FastAPI(title="ordertrail", version="0.1.0", lifespan=lifespan)
    api.state.app = app
    token = app.settings.api_token_value()

    @api.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Any:
        guarded = request.method not in ("GET", "HEAD", "OPTIONS") or request.url.path.startswith(
            "/internal/"
        )
        if token and guarded:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse(
                    {"detail": "missing or wrong API token: send Authorization: Bearer <token>"},
                    status_code=401,
                )
        return await call_next(request)

    @api.exception_handler(NotFound)
    async def _not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @api.exception_handler(InvalidRequest)
    async def _invalid(_: Request, error: InvalidRequest) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @api.exception_handler(OrdertrailError)
    async def _other(_: Request, error: OrdertrailError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=502)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/internal/order-tracking")
    async def tracking() -> dict[str, Any]:
        return app.stats.as_json()

    @api.post("/internal/order-tracking/reconcile")
    async def reconcile() -> dict[str, Any]:
        examined = fills = 0
        timestamp = app.clock.now()
        for broker in app.brokers.values():
            result = await sync_account(broker, app.applier, app.uow, app.clock)
            examined += result.orders_examined
            fills += result.fill_events_processed
        return {
            "orders_examined": examined,
            "fill_events_processed": fills,
            "timestamp": timestamp.isoformat(),
        }

    @api.get("/api/orders")
    async def orders() -> list[dict[str, Any]]:
        with app.engine.connect() as connection:
            return queries.list_orders(connection)

    return api
