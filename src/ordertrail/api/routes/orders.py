"""Orders: a filtered, keyset-paged list, and one order with its event timeline and fills."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ordertrail.api.deps import Before, ConnectionDep, Filter, IdPath, Limit
from ordertrail.api.schemas import OrderDetailPublic, OrdersPublic
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.status import OrderStatus
from ordertrail.services.listings import OrderFilter, list_orders_page
from ordertrail.services.queries import get_order, order_fills, order_timeline

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.get("", response_model=OrdersPublic)
def list_orders(
    connection: ConnectionDep,
    status: Annotated[list[OrderStatus] | None, Query(max_length=7)] = None,
    broker: Filter = None,
    account_id: Filter = None,
    symbol: Filter = None,
    external: bool | None = None,
    side: ProposalKind | None = None,
    before: Before = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    """List orders newest first; `status` may repeat; `external=true` shows orders we did not
    place."""
    wanted = OrderFilter(
        statuses=tuple(s.value for s in status or ()),
        broker=broker,
        account_id=account_id,
        symbol=symbol,
        external=external,
        side=side.value if side else None,
        before=before,
        limit=limit,
    )
    page = list_orders_page(connection, wanted)
    return {"data": page.rows, "count": len(page.rows), "next_before": page.next_before}


@router.get("/{order_id}", response_model=OrderDetailPublic)
def read_order(order_id: IdPath, connection: ConnectionDep) -> dict[str, Any]:
    """Show one order, every event of its life (with raw broker payloads) and its fills."""
    order = get_order(connection, order_id)
    return {
        "order": order,
        "events": order_timeline(connection, order_id),
        "fills": order_fills(connection, order_id),
    }
