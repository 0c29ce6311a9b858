"""Runs to files: wide CSV and JSON lines (reading them back is :mod:`app.services.table_import`).

JSON lines: a first line ``{"project": {settings}, "proposals": [...]}`` (every setting of the project: domains
with tokens and bounds, objective, target, ladder, family bounds ``families`` as ``PATCH`` takes them, ...; the
change log of its domain set, ``domain_versions``: ``[{version, domains, change, note, created_at}]`` oldest
first; its proposals with their ids, which the runs' ``proposal_id`` name), then one run per line as the API
sends it (with its ``domain_version``). ``import --create`` re-creates the project from it, versions included.
CSV holds the runs only, each with its ``domain_version``; its weight columns are the current domains, and a run
of an older version has its weights on that version's domains (columns it lacks are empty).

CSV export columns: ``id, external_id, status, cost, proposal_id, created_at, domain_version, fidelity.<k>,
weight.<domain>, metric.<name>, tag.<k>, weights_sum, trajectory`` (JSON), the cells taken from the run's wire
form (``app.services.wire``). The weight columns are the current domains, then any domain of an older version that
a run has weight on; a run's cell for a domain its version lacks is empty.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from app.services.wire import iso, run_wire
from store.records import DomainVersionRecord, ProjectRecord, ProposalRecord, RunRecord
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


SETTINGS_KEY = "project"
"""The key of the JSON-lines export's first line (no run has it: a run object takes no unknown key)."""
VERSIONS_KEY = "domain_versions"
"""The key of the domain set's versions in the export's project settings."""
NOT_SETTINGS = frozenset({"id", "uid", "name", "data_version", "created_at", "updated_at", "archived_at"})
"""Fields of a project record that are its identity or state, not settings an import re-creates."""


def project_settings(project: ProjectRecord) -> dict[str, Any]:
    """Every setting of the project (its record less identity and state), in plain JSON types."""
    return {k: _plain(v) for k, v in asdict(project).items() if k not in NOT_SETTINGS}


def proposal_wire(p: ProposalRecord) -> dict[str, Any]:
    return {"id": p.id, "mixer": p.mixer, "config": p.config, "seed": p.seed, "created_at": iso(p.created_at)}


def version_wire(v: DomainVersionRecord) -> dict[str, Any]:
    """One version of the domain set as the export (and ``GET .../domains/versions``) writes it."""
    return {
        "version": v.version,
        "domains": v.domains,
        "change": v.change,
        "note": v.note,
        "created_at": iso(v.created_at),
    }


def settings_line(
    project: ProjectRecord, proposals: list[ProposalRecord], versions: list[DomainVersionRecord] | None = None
) -> dict[str, Any]:
    """The JSON-lines export's first line: the project's name and settings (with its domain set's versions), and
    its proposals."""
    settings = {"name": project.name, **project_settings(project)}
    if versions is not None:
        settings[VERSIONS_KEY] = [version_wire(v) for v in versions]
    return {SETTINGS_KEY: settings, "proposals": [proposal_wire(p) for p in proposals]}


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def _fmt(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def export_runs(store: Store, project_name: str, fmt: str) -> Iterator[str]:
    """Every run of the project as CSV or JSON lines, yielded in chunks.

    CSV needs its columns up front (the union of metric, fidelity and tag names), so it reads all runs
    first; JSON lines streams page by page.
    """
    project = store.get_project(project_name)  # before streaming starts, so a 404 is still possible
    return _export(store, project, fmt)


CSV_LEADING = ("id", "external_id", "status", "cost", "proposal_id", "created_at", "domain_version")
CSV_TRAILING = ("weights_sum", "trajectory")


def _csv_cell(value: Any) -> str | int:
    """A scalar of the run's wire form as a CSV cell: empty for none, floats with every digit."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value if isinstance(value, int | str) else str(value)


def _weight_cells(run: dict[str, Any], domains: list[str], zero: frozenset[str]) -> list[str]:
    """A run's weight on each domain: 0 on a domain of ``zero`` it has none on (a current run's current domains),
    empty on a domain its version lacks."""
    weights = run["weights"]
    return [_fmt(weights.get(d, 0.0 if d in zero else None)) for d in domains]


def _export(store: Store, project: ProjectRecord, fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        versions = store.domain_versions(project.id)
        yield json.dumps(settings_line(project, store.list_proposals(project.id), versions)) + "\n"
        for r in _iter_runs(store, project.id):
            yield json.dumps(run_wire(r)) + "\n"
        return
    runs = [run_wire(record) for record in _iter_runs(store, project.id)]
    metric_names = sorted({m for r in runs for m in r["metrics"]})
    fid_names = sorted({k for r in runs for k in r["fidelity"]})
    tag_names = sorted({k for r in runs for k in r["tags"]})
    current = project.domain_names
    domains = list(dict.fromkeys([*current, *(d for r in runs for d in r["weights"])]))
    known = frozenset(current)
    header = (
        list(CSV_LEADING)
        + [f"fidelity.{k}" for k in fid_names]
        + [f"weight.{d}" for d in domains]
        + [f"metric.{m}" for m in metric_names]
        + [f"tag.{t}" for t in tag_names]
        + list(CSV_TRAILING)
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for start in range(0, max(len(runs), 1), EXPORT_PAGE):
        for w in runs[start : start + EXPORT_PAGE]:
            writer.writerow(
                [_csv_cell(w[c]) for c in CSV_LEADING]
                + [_fmt(w["fidelity"].get(k)) for k in fid_names]
                + _weight_cells(w, domains, known if w["domain_version"] == project.domain_version else frozenset())
                + [_fmt(w["metrics"].get(m)) for m in metric_names]
                + [json.dumps(w["tags"][t]) if t in w["tags"] else "" for t in tag_names]
                + [_csv_cell(w[c]) for c in CSV_TRAILING]
            )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
