"""Runs: bulk ingest, list, read, heartbeat, result, export."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from app.api.convert import run_out
from app.deps import ProjectName, RunId, SettingsDep, StoreDep, admin_only
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.schemas import ResultIn, RunList, RunOut, RunsIn, RunStatus, TagsIn
from app.services import runs as svc
from app.services import tabular
from app.services.wire import run_wire

router = APIRouter(route_class=JsonRoute,
    prefix="/api/v1/projects/{name}", tags=["runs"], responses=problem_responses(401, 403, 404, 422, 503)
)
BODY = problem_responses(400, 409, 413)


@router.post("/runs", status_code=201, response_model=RunList, responses=BODY)
def ingest_runs(name: ProjectName, body: RunsIn, store: StoreDep, settings: SettingsDep) -> Response:
    """All or nothing; runs re-sent with the same ``external_id`` and content are returned as stored."""
    runs = svc.ingest_runs(
        store,
        name,
        body.runs,
        lease_seconds=settings.lease_seconds,
        max_runs=settings.max_runs_per_request,
    )
    # Serialized directly: up to 10,000 runs per answer, and the RunList model adds nothing but time here.
    payload = {"runs": [run_wire(r) for r in runs], "next_page_token": None}
    return Response(orjson.dumps(payload), status_code=201, media_type="application/json")


@router.get("/runs", response_model=RunList)
def list_runs(
    name: ProjectName,
    store: StoreDep,
    status: RunStatus | None = None,
    fidelity: Annotated[str | None, Query(max_length=2000, description="e.g. params=1e6,tokens=1e9")] = None,
    max_results: Annotated[int, Query(ge=1, le=10_000)] = 100,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> RunList:
    page = svc.list_runs(
        store,
        name,
        status=status,
        fidelity=svc.parse_fidelity_query(fidelity),
        max_results=max_results,
        page_token=page_token,
    )
    return RunList(runs=[run_out(r) for r in page.items], next_page_token=page.next_page_token)


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(name: ProjectName, run_id: RunId, store: StoreDep) -> RunOut:
    return run_out(svc.get_run(store, name, run_id))


@router.post("/runs/{run_id}/heartbeat", response_model=RunOut, responses=BODY)
def heartbeat(
    name: ProjectName, run_id: RunId, store: StoreDep, settings: SettingsDep, body: TagsIn | None = None
) -> RunOut:
    """Renews the lease (the run turns running); an optional body's ``tags`` are merged into the run's tags."""
    return run_out(svc.heartbeat(store, name, run_id, settings.lease_seconds, body.tags if body else None))


@router.post("/runs/{run_id}/result", response_model=RunOut, responses=BODY)
def post_result(name: ProjectName, run_id: RunId, body: ResultIn, store: StoreDep) -> RunOut:
    """Completes the run once; re-posting the same result is a no-op, a different one is 409."""
    run, _created = svc.post_result(store, name, run_id, body)
    return run_out(run)


@router.delete("/runs/{run_id}", status_code=204, dependencies=[Depends(admin_only)])
def delete_run(name: ProjectName, run_id: RunId, store: StoreDep) -> Response:
    """Remove one run for good (e.g. one stored with bad data). Admin tokens only."""
    svc.delete_run(store, name, run_id)
    return Response(status_code=204)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "every run of the project",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
def export_runs(name: ProjectName, store: StoreDep, format: Literal["csv", "jsonl"] = "csv") -> StreamingResponse:
    """Every run of the project. JSON lines: a first line ``{"project": {name, settings...}, "proposals": [...]}``
    (what ``runs:import`` with ``create`` re-creates the project from), then one run per line as the API sends it.
    CSV: the runs only (``weight.<domain>``, ``metric.<name>``, ``fidelity.<key>``, ... columns)."""
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        tabular.export_runs(store, name, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
    )
