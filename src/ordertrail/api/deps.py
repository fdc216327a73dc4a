"""Dependencies as `Annotated` aliases: app, read connection, event hub, metrics, paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Connection

from ordertrail.api.events import EventHub
from ordertrail.api.metrics import Metrics
from ordertrail.bootstrap import App
from ordertrail.errors import NotFound
from ordertrail.storage.tables import MAX_ID


def get_app(request: Request) -> App:
    """The bootstrapped app this HTTP application serves."""
    app: App = request.app.state.app
    return app


def get_hub(request: Request) -> EventHub:
    """The live event fan-out."""
    hub: EventHub = request.app.state.hub
    return hub


def get_metrics(request: Request) -> Metrics:
    """The app's own Prometheus metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


def read_connection(request: Request) -> Iterator[Connection]:
    """A connection for reading, closed after the response (one snapshot per request)."""
    app: App = request.app.state.app
    with app.engine.connect() as connection:
        yield connection


def test_endpoint_enabled(request: Request) -> None:
    """Refuse the test endpoint unless ORDERTRAIL_ENABLE_TEST_ENDPOINT is set."""
    app: App = request.app.state.app
    if not app.settings.enable_test_endpoint:
        raise NotFound(
            "the test endpoint is disabled: set ORDERTRAIL_ENABLE_TEST_ENDPOINT=1 to enable it"
        )


AppDep = Annotated[App, Depends(get_app)]
HubDep = Annotated[EventHub, Depends(get_hub)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ConnectionDep = Annotated[Connection, Depends(read_connection)]
TestEnabled = Depends(test_endpoint_enabled)

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A local id")]
Before = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Keyset cursor: only ids below this one")
]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Filter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/ -]+$")]
