"""Probes and process information: /healthz, /readyz, /version, /metrics."""

from __future__ import annotations

import platform
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import metrics
from app.deps import StoreDep
from app.services import schema

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(store: StoreDep) -> dict[str, Any]:
    """The database answers and its schema is at head; 503 problem otherwise."""
    return schema.readiness(store)


@router.get("/version")
def version() -> dict[str, str]:
    import fastapi
    import lightgbm
    import numpy
    import sqlalchemy

    from app.main import VERSION

    return {
        "mixopt": VERSION,
        "schema_revision": schema.head_revision(),
        "python": platform.python_version(),
        "fastapi": fastapi.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "numpy": numpy.__version__,
        "lightgbm": lightgbm.__version__,
    }


@router.get("/metrics")
def prometheus_metrics() -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
