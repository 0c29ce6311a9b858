"""Probes and process information: /healthz, /readyz, /version, /metrics."""

from __future__ import annotations

import platform
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import metrics
from app.deps import StoreDep
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.services import schema
from app.services.version import VERSION

router = APIRouter(route_class=JsonRoute, tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no dependency checked). Answered on the event loop itself, never queued behind the
    worker threads that heavy requests occupy."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz(store: StoreDep) -> dict[str, Any]:
    """The database answers and its schema is at head; 503 problem otherwise."""
    return asdict(schema.readiness(store))


@router.get("/version")
def version() -> dict[str, str]:
    import fastapi
    import lightgbm
    import numpy
    import sqlalchemy

    return {
        "mixopt": VERSION,
        "schema_revision": schema.head_revision(),
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "numpy": numpy.__version__,
        "lightgbm": lightgbm.__version__,
    }


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus_metrics() -> Response:
    """Prometheus text exposition format."""
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
