"""`GET /api/proposals-and-orders`: one row per proposal with its order, lifecycle and trade."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ordertrail.api.deps import Before, ConnectionDep, Filter, Limit
from ordertrail.api.schemas import ProposalsAndOrdersPublic
from ordertrail.domain.proposal import ProposalKind, ProposalStatus
from ordertrail.domain.status import OrderStatus
from ordertrail.services.views import BoardFilter, proposals_and_orders

router = APIRouter(tags=["proposals"])


@router.get("/api/proposals-and-orders", response_model=ProposalsAndOrdersPublic)
def list_proposals_and_orders(
    connection: ConnectionDep,
    kind: ProposalKind | None = None,
    proposal_status: ProposalStatus | None = None,
    status: OrderStatus | None = None,
    symbol: Filter = None,
    broker: Filter = None,
    account_id: Filter = None,
    before: Before = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """List proposals newest first, each with its real order status and lifecycle line."""
    wanted = BoardFilter(kind, proposal_status, status, symbol, broker, account_id, before, limit)
    page = proposals_and_orders(connection, wanted)
    return {"data": page.rows, "count": len(page.rows), "nextBefore": page.next_before}
