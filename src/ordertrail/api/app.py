"""The FastAPI application: built around a bootstrapped `App`, watchers run in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ordertrail.api.events import EventHub
from ordertrail.api.metrics import Metrics
from ordertrail.api.routes import ROUTERS
from ordertrail.bootstrap import App
from ordertrail.errors import BrokerRejected, InvalidRequest, NotFound, OrdertrailError
from ordertrail.web.pages import router as pages

log = logging.getLogger(__name__)
DESCRIPTION = """Order tracking with the broker as the source of truth.

With `ORDERTRAIL_API_TOKEN` set, writes and `/internal/*` need `Authorization: Bearer <token>`.
Decimals are strings; times are ISO 8601 in UTC. Errors answer `{"detail": ...}`."""


def create_app(
    app: App,
    *,
    run_watchers: bool = True,
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    keepalive: float = 15.0,
) -> FastAPI:
    """Build the HTTP application over `app`; `background` runs beside the watchers (the demo)."""
    hub = EventHub(app.engine, keepalive=keepalive)
    metrics = Metrics(app, lambda: hub.clients)
    # On PostgreSQL every process's batches (this one's too) arrive by LISTEN; else only ours,
    # read inside their own transactions and handed to the hub before anything is counted.
    bus = getattr(app, "change_bus", None)
    if bus is None:
        app.applier.subscribe_in_transaction(hub.read_in_transaction, hub.deliver)
        app.applier.subscribe_changes(hub.told)
    app.applier.subscribe(metrics.on_batch)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start()
        tasks = [asyncio.create_task(app.run_watchers())] if run_watchers else []
        if bus is not None:
            tasks.append(asyncio.create_task(hub.relay(bus.listen())))
        if background is not None:
            tasks.append(asyncio.create_task(background()))
        try:
            yield
        finally:
            await hub.close()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    api = FastAPI(title="ordertrail", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    api.state.app = app
    api.state.hub = hub
    api.state.metrics = metrics
    api.add_middleware(TokenGuard, token=app.settings.api_token_value())
    _errors(api)
    for router in ROUTERS:
        api.include_router(router)
    api.include_router(pages)
    static = files("ordertrail.web") / "static"
    api.mount("/static", StaticFiles(directory=str(static)), name="static")
    return api


class TokenGuard:
    """With a token set, writes and `/internal/*` need `Authorization: Bearer <token>`.

    Whatever the token, a browser's write from another site (its `Origin` names another host)
    is refused: a page elsewhere must not place orders through a loopback server.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and guarded(scope["method"], scope["path"]):
            headers = Headers(scope=scope)
            refusal = self._refusal(headers, scope["method"])
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, headers: Headers, method: str) -> JSONResponse | None:
        origin = headers.get("origin")
        writing = method not in ("GET", "HEAD", "OPTIONS")
        hosts = {headers.get("host"), headers.get("x-forwarded-host")}
        if writing and origin and urlsplit(origin).netloc not in hosts:
            detail = f"cross-site write from {origin} refused; call the API from its own origin"
            return JSONResponse({"detail": detail}, status_code=403)
        given = headers.get("authorization", "")
        if self.token and not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return JSONResponse(
                {"detail": "missing or wrong API token: send Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None


def guarded(method: str, path: str) -> bool:
    """Tell whether a request needs the token: every write, and everything under /internal/."""
    return method not in ("GET", "HEAD", "OPTIONS") or path.startswith("/internal/")


def _errors(api: FastAPI) -> None:
    def answer(status: int) -> Callable[[Request, Exception], Coroutine[Any, Any, JSONResponse]]:
        async def handler(_: Request, error: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(error)}, status_code=status)

        return handler

    api.add_exception_handler(NotFound, answer(404))
    api.add_exception_handler(InvalidRequest, answer(422))
    api.add_exception_handler(BrokerRejected, answer(422))
    api.add_exception_handler(OrdertrailError, answer(502))

    async def data_error(_: Request, error: Exception) -> JSONResponse:
        log.info("refused a value the database cannot hold: %s", error)
        detail = "a value does not fit the database (too long, too large or malformed)"
        return JSONResponse({"detail": detail}, status_code=422)

    async def internal(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return JSONResponse({"detail": f"internal error: {type(error).__name__}"}, 500)

    async def invalid_body(_: Request, error: Exception) -> JSONResponse:
        # FastAPI's own answer repeats each refused value (`input`): a broker token sent in
        # the wrong field would come back in the answer. Say where and what, never the value.
        assert isinstance(error, RequestValidationError)
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    api.add_exception_handler(RequestValidationError, invalid_body)
    api.add_exception_handler(DataError, data_error)
    api.add_exception_handler(Exception, internal)
