"""Export then import is lossless and idempotent; ``mixopt runs --format json`` is the data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.services import table_import
from app.settings import get_settings

PROJECT = {
    "name": "t",
    "domains": [{"name": "web"}, {"name": "code"}, {"name": "books"}],
    "objective": {"metric": "loss"},
}
RUNS = [
    # completed, with numeric-looking and NA-looking external ids
    {"external_id": "1", "weights": {"web": 0.1, "code": 0.2, "books": 0.7}, "metrics": {"loss": 3.0123456789012345}},
    {"external_id": "NA", "weights": {"web": 0.2, "code": 0.2, "books": 0.6}, "metrics": {"loss": 3.1, "acc": 0.25}},
    {"external_id": "007", "weights": {"web": 0.3, "code": 0.3, "books": 0.4}, "metrics": {"loss": 2.9}},
    # pending, without external id (two identical ones on purpose)
    {"weights": {"web": 1 / 3, "code": 1 / 3, "books": 1 / 3}},
    {"weights": {"web": 1 / 3, "code": 1 / 3, "books": 1 / 3}},
    {"weights": {"web": 0.5, "code": 0.25, "books": 0.25}, "tags": {"seed": 3}},
]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MIXOPT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MIXOPT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def _seed(data_dir: Path) -> None:
    from app.main import open_store
    from app.schemas import ProjectCreate, RunIn
    from app.services import projects, runs

    store = open_store(get_settings())
    projects.create_project(store, ProjectCreate.model_validate(PROJECT))
    runs.ingest_runs(store, "t", [RunIn.model_validate(r) for r in RUNS], lease_seconds=3600, max_runs=100)
    store.engine.dispose()


def _runs(project: str) -> list[dict[str, Any]]:
    return list(json.loads(run_cli("runs", project, "--format", "json", "--limit", "1000")))


def _content(r: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        json.dumps(r[k], sort_keys=True)
        for k in ("external_id", "status", "weights", "metrics", "tags", "fidelity", "cost")
    )


def test_runs_json_is_the_data(cli_env: Path) -> None:
    _seed(cli_env)
    runs = _runs("t")
    assert len(runs) == len(RUNS)
    assert runs[0]["metrics"] == {"loss": 3.0123456789012345}  # the metrics, not their count
    assert runs[3]["weights"]["web"] == pytest.approx(1 / 3, rel=0, abs=1e-16)  # full precision
    assert {"id", "weights_sum", "created_at", "tags", "trajectory", "proposal_id"} <= set(runs[0])


def test_reimport_into_the_same_project_is_a_no_op(cli_env: Path) -> None:
    _seed(cli_env)
    before = _runs("t")
    export = cli_env / "t.csv"
    run_cli("export", "t", "-o", str(export))
    summary = json.loads(run_cli("import", "t", str(export), "--format", "json"))[0]
    assert summary["total_runs"] == len(RUNS) and summary["already_there"] >= 3
    assert _runs("t") == before


def test_import_into_a_new_project_keeps_ids_as_text_and_again_is_a_no_op(cli_env: Path) -> None:
    _seed(cli_env)
    export = cli_env / "t.csv"
    run_cli("export", "t", "-o", str(export))
    for _ in range(2):
        run_cli("import", "u", str(export), "--create", "--objective", "loss")
        copied = _runs("u")
        assert [r["external_id"] for r in copied] == ["1", "NA", "007", None, None, None]
        assert sorted(map(_content, copied)) == sorted(map(_content, _runs("t")))


def test_read_table_reads_every_id_column_as_text(tmp_path: Path) -> None:
    from store.records import ProjectRecord

    project = ProjectRecord(1, "t", "", PROJECT["domains"], {"metrics": {"loss": 1.0}}, None, False, 0, None, None)
    csv = tmp_path / "m.csv"
    csv.write_text("key,web,code,books,loss\n1,0.2,0.3,0.5,3.0\n,0.2,0.3,0.5,3.1\n03,0.2,0.3,0.5,3.2\n")
    runs = table_import.read_table(csv, project, key="key")
    assert [r.external_id for r in runs] == ["1", None, "03"]


@pytest.mark.slow
def test_cli_verbs_talk_to_a_running_server_with_url(cli_env: Path, tmp_path: Path) -> None:
    """The same verbs with ``--url``: the data comes from the server (here its own, separate database)."""
    from tests.server import running_server

    _seed(cli_env)
    with running_server(tmp_path / "server") as url:
        assert run_cli("projects", "--url", url, "--format", "json").strip() == "[]"  # not the local database
        from mixopt.client import Client

        with Client(url) as mx:
            mx.create_project("t", ["web", "code", "books"], "loss")
            mx.add_runs("t", RUNS[:3])
        runs = json.loads(run_cli("runs", "t", "--url", url, "--format", "json"))
        assert [r["metrics"] for r in runs] == [r["metrics"] for r in RUNS[:3]]
        assert "external_id" in run_cli("export", "t", "--url", url)
        proposed = json.loads(run_cli("propose", "t", "--url", url, "--mixer", "regmix", "-n", "2", "--format", "json"))
        assert [r["status"] for r in proposed] == ["pending", "pending"]
        rec = json.loads(run_cli("recommend", "t", "--url", url, "--mixer", "regmix", "--format", "json"))
        assert set(rec[0]["weights"]) == {"web", "code", "books"}
        run_cli("project", "delete", "t", "--url", url)
        assert json.loads(run_cli("projects", "--url", url, "--format", "json")) == []
        run_cli("project", "restore", "t", "--url", url)
        assert [p["name"] for p in json.loads(run_cli("projects", "--url", url, "--format", "json"))] == ["t"]
        missing = CliRunner().invoke(cli, ["runs", "nope", "--url", url])
        assert missing.exit_code == 1 and "does not exist" in missing.output


def test_cli_archives_restores_and_purges_on_the_database(cli_env: Path) -> None:
    _seed(cli_env)
    run_cli("project", "delete", "t")
    assert json.loads(run_cli("projects", "--format", "json")) == []
    [archived] = json.loads(run_cli("projects", "--archived", "--format", "json"))
    assert archived["name"] == "t" and archived["archived_at"] and archived["runs"] == len(RUNS)
    run_cli("project", "restore", "t")
    assert len(_runs("t")) == len(RUNS)
    refused = CliRunner().invoke(cli, ["project", "delete", "t", "--purge"], input="n\n")
    assert refused.exit_code != 0 and len(_runs("t")) == len(RUNS)
    run_cli("project", "delete", "t", "--purge", "--yes")
    assert json.loads(run_cli("projects", "--archived", "--format", "json")) == []
