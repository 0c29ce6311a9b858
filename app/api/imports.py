"""Run import from files: ``POST /api/v1/projects/{name}/runs:import`` (multipart upload)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from app.deps import ProjectName, ScopeDep, SettingsDep, StoreDep
from app.jsonbody import JsonRoute
from app.openapi import problem_responses
from app.services import importing
from app.services.runs import parse_fidelity_query

router = APIRouter(
    route_class=JsonRoute,
    prefix="/api/v1/projects/{name}",
    tags=["runs"],
    responses=problem_responses(401, 403, 404, 422, 503),
)


class ImportOut(BaseModel):
    """What an import did (or, with ``preview``, what the file holds)."""

    project: str
    rows: int = Field(description="runs read from the file")
    written: int = Field(0, description="rows written as new runs of the project")
    already_there: int = Field(
        description="rows that were runs of the project already (by exported id, content, or external_id with the "
        "same content): rows - written"
    )
    stored: int = Field(description="rows sent to the store (new runs, and replays by external_id)")
    new: int = Field(description="runs the project did not hold before (= written)")
    total_runs: int = Field(description="runs of the project after the import")
    created: bool = Field(description="the project was made from the file's columns")
    preview: bool = Field(description="the file was only read; nothing was written")
    metrics: list[str] = Field(description="metric names in the file")
    fidelities: list[dict[str, float]] = Field(description="distinct fidelities of the runs")
    ignored: list[str] = Field(description="columns (or JSON keys) that no run field takes")


def _upload(file: UploadFile | None) -> importing.Upload | None:
    return None if file is None else importing.Upload(file.filename or "", file.file.read())


@router.post("/runs:import", response_model=ImportOut, responses=problem_responses(400, 409, 413))
def import_runs(
    name: ProjectName,
    scope: ScopeDep,
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV (RegMix layout or mixopt's export) or JSON lines of runs")],
    metrics: Annotated[UploadFile | None, File(description="CSV of metrics joined to the file on `key`")] = None,
    token_shares: Annotated[
        UploadFile | None, File(description="with create: CSV of domain,token_share (the domains' tokens)")
    ] = None,
    key: Annotated[str | None, Form(max_length=200, description="join column; becomes external_id")] = None,
    domain_prefix: Annotated[str, Form(max_length=200, description="weight columns are <prefix><domain>")] = "",
    metric_prefix: Annotated[
        str | None, Form(max_length=200, description="only columns with this prefix are metrics")
    ] = None,
    fidelity: Annotated[
        str | None, Form(max_length=2000, description="every run's fidelity, e.g. params=1e6,tokens=1e9")
    ] = None,
    format: Annotated[
        Literal["csv", "jsonl"] | None,
        Form(description="default: jsonl for .jsonl/.ndjson/.json files, csv for .csv, else jsonl when the file "
                         "starts with {"),
    ] = None,
    create: Annotated[
        bool,
        Form(description="make the project if missing (admin): from a JSON-lines export's settings line, else from "
                         "the file's weight columns"),
    ] = False,
    objective: Annotated[str | None, Form(max_length=200, description="with create: the metric to minimize")] = None,
    preview: Annotated[bool, Form(description="read the file and answer what it holds; write nothing")] = False,
) -> ImportOut:
    """Import runs from a file; importing it again is a no-op (rows already stored are skipped).

    The file is read and checked whole and written in **one transaction**: a bad row, or a run whose
    ``external_id`` is stored with other content, writes nothing. Problems name ``runs[i]`` (the i-th run of the
    file) and its ``line``. With ``create`` (admin tokens), a missing project is first made from the file's
    weight columns, in its own transaction; it stays when the runs are refused. The file's size is bounded by
    MIXOPT_MAX_BODY_BYTES; send bigger files in parts (the CLI and the Python client do).
    """
    summary = importing.import_runs(
        store,
        name,
        importing.Upload(file.filename or "", file.file.read()),
        importing.ImportOptions(
            key=key or None,
            domain_prefix=domain_prefix,
            metric_prefix=metric_prefix or None,
            fidelity=parse_fidelity_query(fidelity) or None,
            format=format,
            # a project token reaches only its own project, which exists: creating is for admins
            create=create and scope.project_id is None,
            objective=objective or None,
            preview=preview,
        ),
        metrics=_upload(metrics),
        token_shares=_upload(token_shares),
        lease_seconds=settings.lease_seconds,
    )
    return ImportOut(**asdict(summary))
