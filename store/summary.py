"""Per-project run summaries for the project list: counts, the best objective value, the last activity, and the
best completed run at each fidelity.

One aggregate query over the runs of a page of projects (``GROUP BY project_id``), so the list stays fast
with tens of thousands of runs: the objective (a weighted sum of metrics, different per project) is one
``CASE project_id`` expression over the JSON metrics, evaluated inside the database. The best run per fidelity
is a second query: ``row_number()`` over each (project, fidelity) partition ordered by the signed objective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, case, func, literal, select, type_coerce
from sqlalchemy.exc import DataError
from sqlalchemy.sql.elements import ColumnElement

from store.base import StoreBase
from store.leases import status_at_read, status_in, updated_at_read
from store.models import RunRow
from store.records import OPEN_STATUSES, FidelityBest, ProjectRecord, ProjectSummary, as_utc


def _objective_expr(project: ProjectRecord) -> ColumnElement[Any]:
    """The project's objective of a run's metrics as SQL (NULL when a metric is missing)."""
    terms: list[ColumnElement[Any]] = [
        literal(float(coef), Float) * RunRow.metrics[name].as_float()
        for name, coef in (project.objective.get("metrics") or {}).items()
    ]
    if not terms:
        return literal(None, Float)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


class SummaryStore(StoreBase):
    def project_summaries(self, projects: Sequence[ProjectRecord]) -> dict[int, ProjectSummary]:
        """``{project id: summary}`` for ``projects``, from one aggregate query."""
        return _project_summaries(self, projects)


def _project_summaries(store: StoreBase, projects: Sequence[ProjectRecord]) -> dict[int, ProjectSummary]:
    if not projects:
        return {}
    value = case(*[(RunRow.project_id == p.id, _objective_expr(p)) for p in projects], else_=None)
    completed_value = case((RunRow.status == "completed", value), else_=None)
    stmt = (
        select(
            RunRow.project_id,
            func.count(),
            func.sum(case((RunRow.status == "completed", 1), else_=0)),
            func.sum(case((status_in(OPEN_STATUSES), 1), else_=0)),
            func.min(completed_value),
            func.max(completed_value),
            func.max(updated_at_read(), type_=RunRow.updated_at.type),
        )
        .where(RunRow.project_id.in_([p.id for p in projects]))
        .group_by(RunRow.project_id)
    )
    rows: Sequence[tuple[Any, ...]]
    try:
        with store.read() as s:
            rows = [tuple(r) for r in s.execute(stmt).all()]
        bests = _best_by_fidelity(store, projects)
    except DataError:
        # PostgreSQL cannot extract from a JSON document holding a \u0000 escape (stored before such text was
        # refused): summarize those projects in Python instead of failing the whole list.
        rows = _summaries_in_python(store, projects)
        bests = _best_by_fidelity_in_python(store, projects)
    by_id = {p.id: p for p in projects}
    out: dict[int, ProjectSummary] = {}
    for pid, n, done, open_, lo, hi, last in rows:
        maximize = by_id[pid].objective.get("direction") == "maximize"
        best = hi if maximize else lo
        out[pid] = ProjectSummary(
            runs=int(n),
            completed=int(done or 0),
            open=int(open_ or 0),
            best_value=None if best is None else float(best),
            last_activity=as_utc(last) if isinstance(last, datetime) else None,
            best_by_fidelity=tuple(bests.get(pid, ())),
        )
    for p in projects:
        out.setdefault(p.id, ProjectSummary(0, 0, 0, None, None))
    return out


def _summaries_in_python(store: StoreBase, projects: Sequence[ProjectRecord]) -> list[tuple[Any, ...]]:
    """The rows of the aggregate query, computed from the runs' metrics as Python reads them."""
    by_id = {p.id: p for p in projects}
    acc: dict[int, list[Any]] = {}
    updated_at = updated_at_read()
    stmt = select(
        RunRow.project_id, status_at_read(), RunRow.metrics, type_coerce(updated_at, RunRow.updated_at.type)
    ).where(RunRow.project_id.in_(list(by_id)))
    with store.read() as s:
        for pid, status, metrics, updated in s.execute(stmt):
            row = acc.setdefault(pid, [pid, 0, 0, 0, None, None, None])
            row[1] += 1
            row[2] += status == "completed"
            row[3] += status in OPEN_STATUSES
            if updated is not None and (row[6] is None or updated > row[6]):
                row[6] = updated
            coefs = by_id[pid].objective.get("metrics") or {}
            values = [metrics.get(name) if isinstance(metrics, dict) else None for name in coefs]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            if status != "completed" or not coefs or len(numbers) != len(coefs):
                continue
            value = math.fsum(float(c) * v for c, v in zip(coefs.values(), numbers, strict=True))
            row[4] = value if row[4] is None else min(row[4], value)
            row[5] = value if row[5] is None else max(row[5], value)
    return [tuple(r) for r in acc.values()]


def _ordered(found: list[tuple[int, FidelityBest]]) -> dict[int, list[FidelityBest]]:
    """``{project id: entries}``, the fidelity with the most completed runs first (ties by the fidelity's text)."""
    out: dict[int, list[FidelityBest]] = {}
    for pid, entry in found:
        out.setdefault(pid, []).append(entry)
    for entries in out.values():
        entries.sort(key=lambda e: (-e.n_completed, sorted(e.fidelity.items())))
    return out


def _best_by_fidelity(store: StoreBase, projects: Sequence[ProjectRecord]) -> dict[int, list[FidelityBest]]:
    """The best completed run of each (project, fidelity), from one windowed query."""
    value = case(*[(RunRow.project_id == p.id, _objective_expr(p)) for p in projects], else_=None)
    signed = case(
        *[
            (RunRow.project_id == p.id, literal(-1.0 if p.objective.get("direction") == "maximize" else 1.0, Float)
             * _objective_expr(p))
            for p in projects
        ],
        else_=None,
    )
    part = (RunRow.project_id, RunRow.fidelity_key)
    ranked = (
        select(
            RunRow.project_id,
            RunRow.id.label("run_id"),
            RunRow.fidelity,
            value.label("value"),
            func.row_number().over(partition_by=part, order_by=(signed, RunRow.id)).label("rank"),
            func.count().over(partition_by=part).label("n"),
        )
        .where(RunRow.project_id.in_([p.id for p in projects]), RunRow.status == "completed", value.is_not(None))
        .subquery()
    )
    stmt = select(ranked.c.project_id, ranked.c.fidelity, ranked.c.value, ranked.c.run_id, ranked.c.n).where(
        ranked.c.rank == 1
    )
    with store.read() as s:
        found = [
            (int(pid), FidelityBest(dict(fid or {}), float(val), int(run_id), int(n)))
            for pid, fid, val, run_id, n in s.execute(stmt).all()
        ]
    return _ordered(found)


def _best_by_fidelity_in_python(
    store: StoreBase, projects: Sequence[ProjectRecord]
) -> dict[int, list[FidelityBest]]:
    """What :func:`_best_by_fidelity` answers, computed from the runs' metrics as Python reads them."""
    by_id = {p.id: p for p in projects}
    stmt = select(RunRow.project_id, RunRow.id, RunRow.fidelity_key, RunRow.fidelity, RunRow.metrics).where(
        RunRow.project_id.in_(list(by_id)), RunRow.status == "completed"
    )
    best: dict[tuple[int, str], list[Any]] = {}
    with store.read() as s:
        for pid, run_id, key, fidelity, metrics in s.execute(stmt):
            project = by_id[pid]
            coefs = project.objective.get("metrics") or {}
            values = [metrics.get(name) if isinstance(metrics, dict) else None for name in coefs]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            if not coefs or len(numbers) != len(coefs):
                continue
            value = math.fsum(float(c) * v for c, v in zip(coefs.values(), numbers, strict=True))
            sgn = -1.0 if project.objective.get("direction") == "maximize" else 1.0
            entry = best.setdefault((pid, key), [None, None, None, 0])
            entry[3] += 1
            if entry[1] is None or (sgn * value, run_id) < (sgn * entry[1], entry[2]):
                entry[0], entry[1], entry[2] = dict(fidelity or {}), value, run_id
    return _ordered(
        [(pid, FidelityBest(fid, float(val), int(rid), int(n))) for (pid, _), (fid, val, rid, n) in best.items()]
    )
