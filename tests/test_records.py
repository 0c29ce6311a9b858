"""One typed run: the write model and the record are mapped to rows in one place, and one serializer gives the
run's wire form to the API, the exports and the CLI."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

from app.schemas import RunOut
from app.services import tabular
from app.services.wire import RUN_FIELDS, run_wire
from store.records import NewProject, NewRun, RunRecord
from store.repository import Store

REPO = Path(__file__).resolve().parents[1]


def _new_run(ext: str, status: str = "completed") -> NewRun:
    return NewRun(
        external_id=ext,
        weights={"a": 0.25, "b": 0.75},
        weights_sum=1.0,
        fidelity={"tokens": 1e9},
        fidelity_key="tokens=1e+09",
        cost=2.5,
        status="completed" if status == "completed" else "pending",
        metrics={"loss": 1.5} if status == "completed" else {},
        trajectory=[{"step": 10, "loss": 2.0}],
        tags={"seed": 3, "note": "x"},
        content_hash=f"h-{ext}",
        result_hash="r" if status == "completed" else None,
    )


def _project(store: Store) -> int:
    new = NewProject(name="p", domains=[{"name": "a"}, {"name": "b"}], objective={"metric": "loss"})
    return store.create_project(new).id


def test_records_import_no_orm() -> None:
    tree = ast.parse((REPO / "store" / "records.py").read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not any(m.startswith(("sqlalchemy", "store")) for m in imported), imported


def test_a_run_reads_back_as_written(store: Store) -> None:
    """Every field a new run shares with the record by name is stored and read back unchanged (both backends)."""
    pid = _project(store)
    new = _new_run("x")
    [inserted] = store.ingest_runs(pid, [new], lease_seconds=60)
    read = store.get_run(pid, inserted.id)
    shared = {f.name for f in fields(NewRun)} & {f.name for f in fields(RunRecord)}
    assert shared >= {"external_id", "weights", "weights_sum", "fidelity", "cost", "status", "metrics", "tags"}
    for name in shared:
        assert getattr(read, name) == getattr(new, name) == getattr(inserted, name), name
    assert inserted == read  # the record built from the insert is the record read back


def test_the_wire_form_is_the_api_run_object(store: Store) -> None:
    pid = _project(store)
    [run] = store.ingest_runs(pid, [_new_run("x"), _new_run("y", "pending")], lease_seconds=60)[1:]
    wire = run_wire(run)
    assert tuple(wire) == RUN_FIELDS == tuple(RunOut.model_fields)
    assert "project_id" not in wire and wire["created_at"].endswith("Z")
    assert RunOut.model_validate(wire).model_dump(mode="json") == wire


def test_the_csv_export_takes_its_cells_from_the_wire_form() -> None:
    assert set(tabular.CSV_LEADING) | set(tabular.CSV_TRAILING) <= set(RUN_FIELDS)
