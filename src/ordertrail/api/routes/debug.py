"""`GET /api/debug/broker-orders`: every broker order, what it maps to, and what looks wrong."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ordertrail.api.deps import AppDep, Before, ConnectionDep, Filter, Limit
from ordertrail.api.schemas import BrokerOrdersPublic
from ordertrail.services.debug import DebugFilter, Flag, broker_orders

router = APIRouter(prefix="/api/debug", tags=["debug"])


@router.get("/broker-orders", response_model=BrokerOrdersPublic)
def read_broker_orders(
    app: AppDep,
    connection: ConnectionDep,
    flagged: bool = False,
    flag: Flag | None = None,
    broker: Filter = None,
    account_id: Filter = None,
    stale_after_s: Annotated[int, Query(ge=1, le=30 * 86400)] = 3600,
    before: Before = None,
    limit: Limit = 200,
) -> dict[str, Any]:
    """List broker orders newest first with their local order, proposal, trade, alerts and
    flags; `flagged=true` keeps only orders with a flag, `flag=` only one kind."""
    wanted = DebugFilter(
        flagged_only=flagged,
        flag=flag,
        broker=broker,
        account_id=account_id,
        before=before,
        limit=limit,
        stale_after=timedelta(seconds=stale_after_s),
    )
    page = broker_orders(connection, wanted, app.clock.now())
    return {"data": page.rows, "count": len(page.rows), "next_before": page.next_before}
