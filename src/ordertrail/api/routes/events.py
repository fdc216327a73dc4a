"""`GET /api/events`: server-sent events of order, trade, alert and proposal changes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ordertrail.api.deps import HubDep

router = APIRouter(tags=["events"])


@router.get(
    "/api/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(request: Request, hub: HubDep) -> StreamingResponse:
    """Stream changes as they commit: `order`, `trade`, `alert` and `proposal` events whose
    data is the changed row's JSON, and a `: keep-alive` comment when all is quiet."""
    return StreamingResponse(
        hub.stream(request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
