"""The seed's `/internal/order-tracking` endpoints: status, reconcile, and the test message."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Connection

from ordertrail.api.bodies import BrokerMessageIn, TestMessageIn
from ordertrail.api.deps import AppDep, TestEnabled
from ordertrail.api.schemas import OrderPublic
from ordertrail.bootstrap import App
from ordertrail.domain.report import OrderReport
from ordertrail.services.queries import find_broker_order, get_order
from ordertrail.services.sync import sync_account
from ordertrail.services.test_message import broker_reports, short_report

router = APIRouter(prefix="/internal/order-tracking", tags=["order tracking"])
COUNTS = (
    "reports",
    "applied",
    "unchanged",
    "stale",
    "unnamed",
    "events",
    "fills",
    "orders_created",
    "alerts_updated",
)


class TrackingStatsPublic(BaseModel):
    """Counts over every watched account."""

    orders_processed: int
    alerts_updated: int
    last_update: str | None


class TrackingPublic(BaseModel):
    """Are the watchers running and subscribed, when did they last poll, what did they do."""

    running: bool
    subscribed: bool
    last_polled_at: str | None
    stats: TrackingStatsPublic
    accounts: list[dict[str, Any]]


class ReconcilePublic(BaseModel):
    """What a forced reconcile examined and how many fills it recorded."""

    orders_examined: int
    fill_events_processed: int
    timestamp: str


class ChangedPublic(BaseModel):
    """What applying a message changed."""

    reports: int
    applied: int
    unchanged: int
    stale: int
    events: int
    fills: int
    orders_created: int
    alerts_updated: int
    order_ids: list[int]
    trade_ids: list[int]
    alert_ids: list[int]


class TestAnswerPublic(BaseModel):
    """The seed's answer, plus what the message changed and the orders it names now."""

    status: str
    payload: Any
    changed: ChangedPublic
    orders: list[OrderPublic]


@router.get("", response_model=TrackingPublic)
async def tracking(app: AppDep) -> dict[str, Any]:
    """Show whether the watchers run and are subscribed, and what they processed."""
    return app.stats.as_json()


@router.post("/reconcile", response_model=ReconcilePublic)
async def reconcile(app: AppDep) -> dict[str, Any]:
    """Poll every account now and apply what the brokers show."""
    examined = fills = 0
    timestamp = app.clock.now()
    await app.applier.run(app.refresh_brokers)
    for key, broker in list(app.brokers.items()):
        result = await sync_account(broker, app.applier, app.uow, app.clock)
        examined += result.orders_examined
        fills += result.fill_events_processed
        watcher = app.watchers.get(key)
        if watcher is not None:
            watcher.stats.last_polled_at = result.timestamp
    return {
        "orders_examined": examined,
        "fill_events_processed": fills,
        "timestamp": timestamp.isoformat(),
    }


@router.post("/test", response_model=TestAnswerPublic, dependencies=[TestEnabled])
async def test_message(body: TestMessageIn, app: AppDep) -> dict[str, Any]:
    """Apply a simulated broker order message through the normal apply path.

    Send `{"broker": "tradier"|"ibkr"|"paper", "message": <that broker's raw order>}`, or the
    seed's short form `{"orderId", "status", "symbol", "strike", "right", "filledQuantity"}`
    (with `avgFillPrice` the fill is recorded with its price). Off unless
    ORDERTRAIL_ENABLE_TEST_ENDPOINT is set.
    """
    reports = _reports(app, body)
    result = await app.applier.apply(reports)
    keys = {r.key for r in reports}

    def named() -> list[dict[str, Any]]:
        with app.engine.connect() as connection:
            changed = [get_order(connection, i) for i in sorted(result.order_ids)]
            return changed or _by_key(connection, keys)

    counts = {name: getattr(result, name) for name in COUNTS}
    ids = {name: sorted(getattr(result, name)) for name in ("order_ids", "trade_ids", "alert_ids")}
    return {
        "status": "Test order message processed",
        "payload": body.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "changed": counts | ids,
        "orders": await asyncio.to_thread(named),
    }


def _reports(app: App, body: TestMessageIn) -> list[OrderReport]:
    if isinstance(body, BrokerMessageIn):
        account = body.account_id or _first_account(app, body.broker)
        return broker_reports(body.broker, body.message, account)
    broker = body.broker or (next(iter(app.brokers.values())).name if app.brokers else "ibkr")
    account = body.accountId or _first_account(app, broker)
    raw = body.model_dump(mode="json", exclude_unset=True)
    return [short_report(body.to_message(), broker, account, raw)]


def _first_account(app: App, broker: str) -> str:
    for configured in app.brokers.values():
        if configured.name == broker:
            return configured.account_id
    return "TEST"


def _by_key(connection: Connection, keys: set[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
    found = (find_broker_order(connection, b, a, i) for b, a, i in sorted(keys, key=str) if i)
    return [order for order in found if order is not None]
