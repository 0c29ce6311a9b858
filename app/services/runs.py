"""Ingest, read, heartbeat and complete runs."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from app.services import objective, telemetry
from app.services.inputs import ResultIn, RunIn
from mixers.types import fidelity_key
from store.errors import FieldError, InvalidInput
from store.records import FINISHED_STATUSES, NewRun, Page, ProjectRecord, RunRecord, RunResult, RunStatus
from store.repository import Store

SUM_TOLERANCE = 0.01


@dataclass(frozen=True)
class RunOrigin:
    """Where a run came from, as an export records it: its proposal (an id of the project it is imported into)
    and, for an open run, when its lease runs out."""

    proposal_id: int | None
    lease_expires_at: datetime | None


def content_hash(payload: dict[str, Any]) -> str:
    """sha256 of canonical JSON (sorted keys): equal content gives an equal hash in any process."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def result_hash(status: str, metrics: Any, trajectory: Any, cost: float | None) -> str:
    """The one definition of a result's identity (ingested completed runs and ``/result`` alike): a replay with
    the same hash is a no-op, another is a conflict. ``cost`` counts only when given, so results posted without
    one keep the hash they always had."""
    content: dict[str, Any] = {"status": status, "metrics": metrics, "trajectory": trajectory}
    if cost is not None:
        content["cost"] = cost
    return content_hash(content)


def normalize_weights(
    project: ProjectRecord, weights: dict[str, float], loc: str
) -> tuple[dict[str, float] | None, float, list[FieldError]]:
    """Check one mixture against the project's domains and renormalize it.

    Returns ``(weights in domain order, raw sum, errors)``. Names must be the project's domains (missing ones
    count as 0 only with ``allow_missing_domains``); weights non-negative; the sum within 1 +- 0.01.
    """
    errors: list[FieldError] = []
    names = project.domain_names
    known = set(names)
    for key, value in weights.items():
        if key not in known:
            errors.append(FieldError(f"{loc}.{key}", f"unknown domain {key!r}"))
        elif not math.isfinite(value):
            errors.append(FieldError(f"{loc}.{key}", "weight must be a finite number"))
        elif value < 0:
            errors.append(FieldError(f"{loc}.{key}", f"weight {value} is negative"))
    if not project.allow_missing_domains:
        missing = [n for n in names if n not in weights]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            errors.append(
                FieldError(loc, f"missing weights for domain(s) {shown} (set allow_missing_domains to allow)")
            )
    if errors:
        return None, float("nan"), errors
    raw = math.fsum(weights.values())
    if abs(raw - 1.0) > SUM_TOLERANCE:
        return None, raw, [FieldError(loc, f"weights sum to {raw:.6g}; they must sum to 1 (+-{SUM_TOLERANCE})")]
    return {n: weights.get(n, 0.0) / raw for n in names}, raw, []


def prepare_runs(
    project: ProjectRecord,
    runs: Sequence[RunIn],
    loc: str = "runs",
    versions: Mapping[int, list[dict[str, Any]]] | None = None,
) -> list[NewRun]:
    """Validate a batch against the project and build the runs to store; all errors at once.

    A run without ``domain_version`` is over the project's current domain set; one that names another version is
    checked against that version's domains (``versions``: version -> domains; a version not there is a 422 on
    ``runs[i].domain_version``)."""
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    out: list[NewRun] = []
    for i, run in enumerate(runs):
        here = f"{loc}[{i}]"
        version = project.domain_version if run.domain_version is None else run.domain_version
        at = project
        if version != project.domain_version:
            if versions is None or version not in versions:
                errors.append(
                    FieldError(
                        f"{here}.domain_version",
                        f"the project has no domain version {version} (current: {project.domain_version})",
                    )
                )
                continue
            at = replace(project, domains=versions[version])
        weights, raw, errs = normalize_weights(at, run.weights, f"{here}.weights")
        errors.extend(errs)
        if run.external_id is not None:
            if run.external_id in seen:
                errors.append(
                    FieldError(
                        f"{here}.external_id",
                        f"external_id {run.external_id!r} repeats {loc}[{seen[run.external_id]}] in this batch",
                    )
                )
            seen.setdefault(run.external_id, i)
        status: RunStatus = run.status or ("completed" if run.metrics else "pending")
        if status == "completed" and not run.metrics:
            errors.append(FieldError(f"{here}.metrics", "a completed run needs at least one metric"))
        if errors or weights is None:
            continue
        trajectory = [p.model_dump() for p in run.trajectory] if run.trajectory is not None else None
        content = {
            "weights": run.weights,
            "fidelity": run.fidelity,
            "cost": run.cost,
            "status": status,
            "metrics": run.metrics,
            "trajectory": trajectory,
            "tags": run.tags,
        }
        if version != 1:  # runs of version 1 keep the identity they had before versions existed
            content["domain_version"] = version
        out.append(
            NewRun(
                external_id=run.external_id,
                weights=weights,
                weights_sum=raw,
                fidelity=dict(run.fidelity),
                fidelity_key=fidelity_key(run.fidelity),
                cost=run.cost,
                status=status,
                metrics=dict(run.metrics),
                trajectory=trajectory,
                tags=dict(run.tags),
                content_hash=content_hash(content),
                result_hash=result_hash(status, run.metrics, trajectory, run.cost)
                if status in FINISHED_STATUSES
                else None,
                domain_version=version,
            )
        )
    if errors:
        raise InvalidInput(
            f"{len(errors)} problem(s) in the batch; nothing was written. First: {errors[0].loc}: {errors[0].msg}",
            code="invalid_runs",
            errors=errors[:1000],
        )
    return out


def ingest_runs(
    store: Store,
    project_name: str,
    runs: Sequence[RunIn],
    *,
    lease_seconds: float,
    max_runs: int,
    origins: Sequence[RunOrigin | None] | None = None,
) -> list[RunRecord]:
    """Validate ``runs`` against the project and store them all or nothing. ``origins`` (aligned with ``runs``)
    restores each run's proposal and lease, as an import re-creating a project from its export does."""
    if len(runs) > max_runs:
        raise InvalidInput(
            f"{len(runs)} runs in one request; the limit is {max_runs}",
            code="too_many_runs",
            errors=[FieldError("runs", f"at most {max_runs} runs per request")],
        )
    project = store.get_project(project_name)
    new = prepare_runs(project, runs, versions=version_domains(store, project, runs))
    if origins is not None:
        new = [
            new_run if o is None else replace(new_run, proposal_id=o.proposal_id, lease_expires_at=o.lease_expires_at)
            for new_run, o in zip(new, origins, strict=True)
        ]
    check_objective_reported(store, project, new)
    sweep_leases(store, project.id)
    stored = store.ingest_runs(project.id, new, lease_seconds)
    telemetry.RUNS_INGESTED.inc(len(stored))
    return stored


def version_domains(
    store: Store, project: ProjectRecord, runs: Sequence[RunIn]
) -> dict[int, list[dict[str, Any]]] | None:
    """The domains of each version of the project's domain set, read only when a run names an earlier one."""
    if all(r.domain_version in (None, project.domain_version) for r in runs):
        return None
    return {v.version: v.domains for v in store.domain_versions(project.id)}


def check_objective_reported(store: Store, project: ProjectRecord, runs: Sequence[NewRun]) -> None:
    """Refuse completed runs of which none reports the objective when no completed run of the project reports
    it either (:mod:`app.services.objective`); the project's runs are read only in that case."""
    done = [r.metrics for r in runs if r.status == "completed"]
    if not done or any(objective.reports(m, project.objective) for m in done):
        return
    best = store.project_summaries([project])[project.id].best_value
    objective.check_batch(project, done, project_reports_it=best is not None)


def sweep_leases(store: Store, project_id: int | None = None) -> int:
    """Write ``abandoned`` into the open runs (of the project, or of every project) whose lease has run out;
    returns how many. Reads already show them abandoned: writers and the app's background task call this so
    that the stored status catches up."""
    n = store.expire_leases(project_id)
    if n:
        telemetry.ABANDONED.inc(n)
    return n


def list_runs(
    store: Store,
    project_name: str,
    *,
    status: str | None,
    fidelity: dict[str, float] | None,
    max_results: int,
    page_token: str | None,
) -> Page[RunRecord]:
    project = store.get_project(project_name)
    return store.list_runs(
        project.id,
        status=status,
        fidelity_key=fidelity_key(fidelity) if fidelity is not None else None,
        max_results=max_results,
        page_token=page_token,
    )


def get_run(store: Store, project_name: str, run_id: int) -> RunRecord:
    project = store.get_project(project_name)
    return store.get_run(project.id, run_id)


def heartbeat(
    store: Store, project_name: str, run_id: int, lease_seconds: float, tags: dict[str, Any] | None = None
) -> RunRecord:
    """Renew the run's lease and merge ``tags`` into its tags (e.g. where its log is); the store sweeps this run,
    and only this one, if its lease already ran out."""
    project = store.get_project(project_name)
    return store.heartbeat(project.id, run_id, lease_seconds, tags or None)


def post_result(store: Store, project_name: str, run_id: int, body: ResultIn) -> tuple[RunRecord, bool]:
    """Complete a run exactly once; returns ``(run, created)`` where ``created`` is False for a replay."""
    if body.status == "completed" and not body.metrics:  # the same rule as ingest
        msg = "a completed run needs at least one metric"
        raise InvalidInput(f"metrics: {msg}", code="invalid_result", errors=[FieldError("metrics", msg)])
    project = store.get_project(project_name)
    sweep_leases(store, project.id)
    trajectory = [p.model_dump() for p in body.trajectory] if body.trajectory is not None else None
    result = RunResult(
        status=body.status,
        metrics=dict(body.metrics),
        trajectory=trajectory,
        cost=body.cost,
        result_hash=result_hash(body.status, body.metrics, trajectory, body.cost),
    )
    run, created = store.complete_run(project.id, run_id, result)
    telemetry.RESULTS.labels(body.status, "stored" if created else "replay").inc()
    return run, created


def delete_run(store: Store, project_name: str, run_id: int) -> None:
    """Remove one run for good (an admin's repair, e.g. of a run stored with bad data)."""
    project = store.get_project(project_name)
    store.delete_run(project.id, run_id)


def parse_fidelity_query(raw: str | None) -> dict[str, float] | None:
    """``params=1e6,tokens=1e9`` -> dict; ``None`` when absent."""
    if raw is None:
        return None
    out: dict[str, float] = {}
    try:
        for part in filter(None, raw.split(",")):
            key, value = part.split("=", 1)
            out[key.strip()] = float(value)
    except ValueError as exc:
        raise InvalidInput(
            "fidelity filter must look like params=1e6,tokens=1e9",
            code="invalid_fidelity_filter",
            errors=[FieldError("fidelity", "expected key=value pairs separated by commas")],
        ) from exc
    return out
