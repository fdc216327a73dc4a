"""`GET /healthz` and `GET /metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ordertrail.api.deps import MetricsDep

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Say the process is up."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(registry: MetricsDep) -> Response:
    """Expose Prometheus metrics."""
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
