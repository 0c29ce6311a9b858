"""Runs to and from files: wide CSV (RegMix layout or mixopt's export) and JSON lines.

Export columns: ``id, external_id, status, cost, proposal_id, created_at, fidelity.<k>, weight.<domain>,
metric.<name>, tag.<k>, weights_sum, trajectory`` (JSON), the cells taken from the run's wire form
(``app.services.wire``). Import reads that layout back, and the RegMix layout: a mixture
file whose columns are domains (optionally behind a prefix) joined with a metrics file on a key column.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from app.services.inputs import RunIn, loads
from app.services.wire import run_wire
from store.errors import FieldError, InvalidInput
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


CSV_LEADING = ("id", "external_id", "status", "cost", "proposal_id", "created_at")
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


def _export(store: Store, project: ProjectRecord, fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for r in _iter_runs(store, project.id):
            yield json.dumps(run_wire(r)) + "\n"
        return
    runs = [run_wire(record) for record in _iter_runs(store, project.id)]
    metric_names = sorted({m for r in runs for m in r["metrics"]})
    fid_names = sorted({k for r in runs for k in r["fidelity"]})
    tag_names = sorted({k for r in runs for k in r["tags"]})
    header = (
        list(CSV_LEADING)
        + [f"fidelity.{k}" for k in fid_names]
        + [f"weight.{d}" for d in project.domain_names]
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
                + [_fmt(w["weights"].get(d, 0.0)) for d in project.domain_names]
                + [_fmt(w["metrics"].get(m)) for m in metric_names]
                + [json.dumps(w["tags"][t]) if t in w["tags"] else "" for t in tag_names]
                + [_csv_cell(w[c]) for c in CSV_TRAILING]
            )
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    f = float(value)
    return None if math.isnan(f) else f


ID_COLUMNS = ("id", "external_id", "proposal_id")


def _read_csv(src: Path | str | io.StringIO, text_columns: set[str]) -> pd.DataFrame:
    """A CSV with ``text_columns`` read as text, exactly as written (``1`` stays ``"1"``, never ``1.0``; ``NA`` is an
    id like any other); an empty cell there is ``None``. Other columns get pandas' type inference."""
    text = src.getvalue() if isinstance(src, io.StringIO) else Path(src).read_text()
    header = next(csv.reader(io.StringIO(text)), [])
    # tag cells and the trajectory hold JSON text: read as written too (a tag ``3`` is JSON for the number 3)
    ids = [c for c in header if c in text_columns or c.startswith("tag.") or c == "trajectory"]
    df = pd.read_csv(io.StringIO(text), dtype={c: str for c in ids})
    if ids:
        raw = pd.read_csv(io.StringIO(text), usecols=ids, dtype=str, keep_default_na=False)
        for c in ids:
            df[c] = pd.Series([None if v == "" else v for v in raw[c]], index=df.index, dtype=object)
    return df


def read_table(
    path: Path | str | io.StringIO,
    project: ProjectRecord,
    *,
    metrics_path: Path | str | io.StringIO | None = None,
    key: str | None = None,
    domain_prefix: str = "",
    metric_prefix: str | None = None,
    fidelity: dict[str, float] | None = None,
) -> list[RunIn]:
    """Read runs from a wide CSV (or a mixture CSV joined with a metrics CSV on ``key``).

    Weight columns: ``weight.<domain>`` or ``<domain_prefix><domain>`` for each project domain. Metric
    columns: ``metric.<name>``, or every other numeric column (only those starting with ``metric_prefix``
    when it is given). The key column, or ``external_id``, becomes the run's ``external_id`` (read as text).
    """
    return read_table_with_ids(
        path,
        project,
        metrics_path=metrics_path,
        key=key,
        domain_prefix=domain_prefix,
        metric_prefix=metric_prefix,
        fidelity=fidelity,
    )[0]


def read_table_with_ids(
    path: Path | str | io.StringIO,
    project: ProjectRecord,
    *,
    metrics_path: Path | str | io.StringIO | None = None,
    key: str | None = None,
    domain_prefix: str = "",
    metric_prefix: str | None = None,
    fidelity: dict[str, float] | None = None,
) -> tuple[list[RunIn], list[int | None]]:
    """``read_table``, plus each row's server id from a mixopt export's ``id`` column (None elsewhere)."""
    text_columns = set(ID_COLUMNS) | ({key} if key else set())
    df = _read_csv(path, text_columns)
    if metrics_path is not None:
        if not key:
            raise InvalidInput("joining a metrics file needs --key", code="import_key_missing")
        right = _read_csv(metrics_path, text_columns)
        for name, frame in (("mixture file", df), ("metrics file", right)):
            if key not in frame.columns:
                raise InvalidInput(f"the {name} has no column {key!r}", code="import_key_missing")
        df = df.merge(right, on=key, how="inner", validate="one_to_one")
    exported = any(c.startswith("weight.") for c in df.columns)
    weight_cols = {d: (f"weight.{d}" if exported else f"{domain_prefix}{d}") for d in project.domain_names}
    missing = [c for c in weight_cols.values() if c not in df.columns]
    if missing and not project.allow_missing_domains:
        raise InvalidInput(
            f"no weight column for {len(missing)} domain(s): {', '.join(missing[:5])}",
            code="import_columns",
            errors=[FieldError(c, "column missing") for c in missing[:50]],
        )
    id_col = "external_id" if "external_id" in df.columns else key
    used = set(weight_cols.values()) | {
        id_col,
        key,
        "id",
        "status",
        "cost",
        "proposal_id",
        "created_at",
        "weights_sum",
        "trajectory",
    }
    if exported:
        metric_cols = {c[len("metric.") :]: c for c in df.columns if c.startswith("metric.")}
    else:
        metric_cols = {
            c: c
            for c in df.columns
            if c not in used
            and not c.startswith(("fidelity.", "tag."))
            and pd.api.types.is_numeric_dtype(df[c])
            and (metric_prefix is None or c.startswith(metric_prefix))
        }
    fid_cols = {c[len("fidelity.") :]: c for c in df.columns if c.startswith("fidelity.")}
    tag_cols = {c[len("tag.") :]: c for c in df.columns if c.startswith("tag.")}
    runs: list[RunIn] = []
    source_ids: list[int | None] = []
    errors: list[FieldError] = []
    for i, rec in enumerate(df.to_dict(orient="records")):
        try:
            weights = {d: float(rec[c]) for d, c in weight_cols.items() if c in rec and _num(rec[c]) is not None}
            raw_sum = _num(rec.get("weights_sum")) if exported else None
            if raw_sum:  # our export holds normalized weights and the raw sum: give back what was sent
                weights = {d: w * raw_sum for d, w in weights.items()}
            metrics = {m: v for m, c in metric_cols.items() if (v := _num(rec.get(c))) is not None}
            fid = dict(fidelity or {})
            fid.update({k: v for k, c in fid_cols.items() if (v := _num(rec.get(c))) is not None})
            ext = rec.get(id_col) if id_col else None
            payload: dict[str, Any] = {
                "external_id": None if ext is None or (isinstance(ext, float) and math.isnan(ext)) else str(ext),
                "weights": weights,
                "fidelity": fid,
                "metrics": metrics,
            }
            if "status" in rec and isinstance(rec["status"], str):
                payload["status"] = rec["status"]
            if _num(rec.get("cost")) is not None:
                payload["cost"] = _num(rec.get("cost"))
            if tag_cols:
                payload["tags"] = {
                    t: loads(rec[c]) for t, c in tag_cols.items() if isinstance(rec.get(c), str) and rec[c]
                }
            if isinstance(rec.get("trajectory"), str) and rec["trajectory"]:
                payload["trajectory"] = loads(rec["trajectory"])
            runs.append(RunIn.model_validate(payload))
            source = rec.get("id") if exported else None
            source_ids.append(int(source) if isinstance(source, str) and source.isdigit() else None)
        except ValidationError as exc:
            for e in exc.errors():
                errors.append(FieldError(f"row {i + 1}: " + ".".join(map(str, e["loc"])), e["msg"]))
        except (ValueError, TypeError) as exc:
            errors.append(FieldError(f"row {i + 1}", str(exc)))
    if errors:
        raise InvalidInput(
            f"{len(errors)} problem(s) in the file; nothing was imported", code="invalid_import", errors=errors[:100]
        )
    return runs, source_ids


def new_runs_only(store: Store, project: ProjectRecord, runs: list[RunIn], source_ids: list[int | None]) -> list[RunIn]:
    """Drop the rows that are already runs of ``project``, so that importing a file twice is a no-op.

    A row with an ``external_id`` is left to the ingest, which returns a replay as stored. A row without one
    (a pending run, say) is the same run when its exported ``id`` names a run of this project (an export
    re-imported into its own project: the server's current state is kept), or when its content equals that of
    a run without ``external_id`` already here (an export imported into another project, again), counted
    with multiplicity so that deliberate duplicates in the file stay.
    """
    here = store.run_ids_in(project.id, [i for i in source_ids if i is not None])
    rows = [(r, i) for r, i in zip(runs, source_ids, strict=True) if i is None or i not in here]
    anonymous = [r for r, _ in rows if r.external_id is None]
    if not anonymous:
        return [r for r, _ in rows]
    from collections import Counter

    from app.services.runs import prepare_runs

    stored = Counter(store.anonymous_content_hashes(project.id))
    hashes = iter(row.content_hash for row in prepare_runs(project, anonymous))
    out: list[RunIn] = []
    for run, _ in rows:
        if run.external_id is None:
            digest = next(hashes)
            if stored[digest] > 0:
                stored[digest] -= 1
                continue
        out.append(run)
    return out
