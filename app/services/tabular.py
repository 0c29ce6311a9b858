"""Runs to files: wide CSV and JSON lines (reading them back is :mod:`app.services.table_import`).

Export columns: ``id, external_id, status, cost, proposal_id, created_at, fidelity.<k>, weight.<domain>,
metric.<name>, tag.<k>, trajectory`` (JSON).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from store.records import ProjectRecord, RunRecord
from store.repository import Store

EXPORT_PAGE = 5000


def _iter_runs(store: Store, project_id: int) -> Iterator[RunRecord]:
    token: str | None = None
    while True:
        page = store.list_runs(project_id, max_results=EXPORT_PAGE, page_token=token)
        yield from page.items
        if page.next_page_token is None:
            return
        token = page.next_page_token


def _fmt(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def export_runs(store: Store, project_name: str, fmt: str) -> Iterator[str]:
    """Every run of the project as CSV or JSON lines, yielded in chunks.

    CSV needs its columns up front (the union of metric, fidelity and tag names), so it reads all runs
    first; JSON lines streams page by page.
    """
    project = store.get_project(project_name)  # before streaming starts, so a 404 is still possible
    return _export(store, project, fmt)


def _export(store: Store, project: ProjectRecord, fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for r in _iter_runs(store, project.id):
            yield json.dumps(run_dict(r)) + "\n"
        return
    runs = list(_iter_runs(store, project.id))
    metric_names = sorted({m for r in runs for m in r.metrics})
    fid_names = sorted({k for r in runs for k in r.fidelity})
    tag_names = sorted({k for r in runs for k in r.tags})
    header = (
        ["id", "external_id", "status", "cost", "proposal_id", "created_at"]
        + [f"fidelity.{k}" for k in fid_names]
        + [f"weight.{d}" for d in project.domain_names]
        + [f"metric.{m}" for m in metric_names]
        + [f"tag.{t}" for t in tag_names]
        + ["weights_sum", "trajectory"]
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for start in range(0, max(len(runs), 1), EXPORT_PAGE):
        for r in runs[start : start + EXPORT_PAGE]:
            writer.writerow(
                [
                    r.id,
                    r.external_id or "",
                    r.status,
                    _fmt(r.cost),
                    r.proposal_id or "",
                    r.created_at.isoformat() if r.created_at else "",
                ]
                + [_fmt(r.fidelity.get(k)) for k in fid_names]
                + [_fmt(r.weights.get(d, 0.0)) for d in project.domain_names]
                + [_fmt(r.metrics.get(m)) for m in metric_names]
                + [json.dumps(r.tags[t]) if t in r.tags else "" for t in tag_names]
                + [_fmt(r.weights_sum), json.dumps(r.trajectory) if r.trajectory is not None else ""]
            )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


def _iso(ts: Any) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the pydantic responses write it."""
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def run_dict(r: RunRecord) -> dict[str, Any]:
    """The API's run shape as plain JSON types (timestamps as ISO strings), for responses serialized directly."""
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in r.public().items()}
