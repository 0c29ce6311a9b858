"""Per-project run summaries for the project list: counts, the best objective value, the last activity.

One aggregate query over the runs of a page of projects (``GROUP BY project_id``), so the list stays fast
with tens of thousands of runs: the objective (a weighted sum of metrics, different per project) is one
``CASE project_id`` expression over the JSON metrics, evaluated inside the database.
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
from store.records import OPEN_STATUSES, ProjectRecord, ProjectSummary, as_utc


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
    except DataError:
        # PostgreSQL cannot extract from a JSON document holding a \u0000 escape (stored before such text was
        # refused): summarize those projects in Python instead of failing the whole list.
        rows = _summaries_in_python(store, projects)
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
