"""One router per resource; `ROUTERS` lists them in the order the API documents them."""

from __future__ import annotations

from fastapi import APIRouter

from ordertrail.api.routes import (
    accounts,
    alerts,
    board,
    debug,
    events,
    orders,
    proposals,
    system,
    tracking,
    trades,
)

ROUTERS: tuple[APIRouter, ...] = (
    board.router,
    proposals.router,
    orders.router,
    trades.router,
    alerts.router,
    accounts.router,
    debug.router,
    events.router,
    tracking.router,
    system.router,
)
