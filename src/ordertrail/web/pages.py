"""Page routes: Proposals & Orders, Order, Debug Orders, Alerts, Trades, Status."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ordertrail.api.deps import AppDep, Before, ConnectionDep, Filter, HubDep, IdPath
from ordertrail.domain.proposal import ProposalKind
from ordertrail.domain.status import OrderStatus
from ordertrail.errors import NotFound
from ordertrail.services.debug import FLAGS, DebugFilter, Flag, broker_orders
from ordertrail.services.listings import list_alerts, list_trades
from ordertrail.services.queries import get_order, order_fills, order_timeline
from ordertrail.services.status_view import counts, sync_states
from ordertrail.services.views import BoardFilter, proposal_row, proposals_and_orders
from ordertrail.web.render import build_templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
templates = build_templates()
PAGE = 100


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render one page template."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/")
def board(
    request: Request,
    connection: ConnectionDep,
    kind: ProposalKind | None = None,
    status: OrderStatus | None = None,
    symbol: Filter = None,
    before: Before = None,
) -> HTMLResponse:
    """Proposals & Orders: one row per proposal, expandable to its order's details."""
    wanted = BoardFilter(kind=kind, order_status=status, symbol=symbol, before=before, limit=PAGE)
    found = proposals_and_orders(connection, wanted)
    return page(
        request,
        "board.html",
        rows=found.rows,
        next_before=found.next_before,
        kind=kind.value if kind else "",
        status=status.value if status else "",
        symbol=symbol or "",
        statuses=[s.value for s in OrderStatus],
    )


@router.get("/orders/{order_id}")
def order(request: Request, order_id: IdPath, connection: ConnectionDep) -> HTMLResponse:
    """One order: its links, fills and the timeline of every event with its raw payload."""
    try:
        found = get_order(connection, order_id)
    except NotFound as missing:
        return page(request, "missing.html", 404, message=str(missing))
    proposal = proposal_row(connection, found["proposal_id"]) if found["proposal_id"] else None
    return page(
        request,
        "order.html",
        order=found,
        proposal=proposal,
        events=order_timeline(connection, order_id),
        fills=order_fills(connection, order_id),
    )


@router.get("/debug/orders")
def debug_orders(
    request: Request,
    app: AppDep,
    connection: ConnectionDep,
    flag: Flag | None = None,
    before: Before = None,
) -> HTMLResponse:
    """Debug Orders: every broker order and what it maps to; unmatched and ambiguous stand out."""
    wanted = DebugFilter(flag=flag, before=before, limit=PAGE, stale_after=timedelta(hours=1))
    found = broker_orders(connection, wanted, app.clock.now())
    tally: dict[str, int] = defaultdict(int)
    for row in found.rows:
        for name in row["flags"]:
            tally[name] += 1
    return page(
        request,
        "debug.html",
        rows=found.rows,
        next_before=found.next_before,
        flag=flag or "",
        flags=FLAGS,
        tally=tally,
    )


@router.get("/alerts")
def alerts(request: Request, connection: ConnectionDep) -> HTMLResponse:
    """Alerts by alerter: open flag and the last order update that touched each."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in list_alerts(connection):
        grouped[alert["source"]].append(alert)
    return page(request, "alerts.html", grouped=dict(grouped))


@router.get("/trades")
def trades(
    request: Request,
    connection: ConnectionDep,
    status: Literal["OPEN", "CLOSED"] | None = None,
    before: Before = None,
) -> HTMLResponse:
    """Trades: open and closed, with entry and exit prices and realised P&L."""
    found = list_trades(connection, status, before=before, limit=PAGE)
    total = sum((Decimal(t["realized_pnl"]) for t in found.rows if t["realized_pnl"]), Decimal(0))
    # Trades with something exited but no P&L yet (a price not known) are not in the total:
    # say so, or the total would pass for theirs too.
    unknown = sum(
        1 for t in found.rows if t["realized_pnl"] is None and Decimal(t["exit_quantity"] or 0)
    )
    return page(
        request,
        "trades.html",
        rows=found.rows,
        next_before=found.next_before,
        status=status or "",
        pnl_total=format(total, "f"),
        pnl_unknown=unknown,
    )


@router.get("/status")
def status_page(
    request: Request, app: AppDep, hub: HubDep, connection: ConnectionDep
) -> HTMLResponse:
    """Status: the watchers, their stats, the sync state and what is stored."""
    settings = app.settings
    return page(
        request,
        "status.html",
        tracking=app.stats.as_json(),
        sync=sync_states(connection),
        counts=counts(connection),
        totals=app.applier.totals,
        clients=hub.clients,
        database=app.engine.dialect.name,
        token_set=settings.api_token_value() is not None,
        test_endpoint=settings.enable_test_endpoint,
    )
