"""Probes and process information: /healthz, /readyz, /version, /metrics."""

from __future__ import annotations

import platform
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import metrics
from app.deps import StoreDep
from app.openapi import problem_responses
from store import db
from store.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no dependency checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz(store: StoreDep) -> dict[str, Any]:
    """The database answers and its schema is at head; 503 problem otherwise."""
    try:
        store.ping()
        current = db.current_revision(store.engine)
    except Exception as exc:  # any driver error means "not ready"
        raise Unavailable(f"database unreachable: {type(exc).__name__}", code="database_unreachable") from exc
    head = db.head_revision()
    if current != head:
        raise Unavailable(f"schema at {current}, code needs {head}: run `mixopt db upgrade`", code="schema_behind")
    return {"status": "ready", "database": store.engine.dialect.name, "schema_revision": current}


@router.get("/version")
def version() -> dict[str, str]:
    import fastapi
    import lightgbm
    import numpy
    import sqlalchemy

    from app.main import VERSION

    return {
        "mixopt": VERSION,
        "schema_revision": db.head_revision() or "",
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
