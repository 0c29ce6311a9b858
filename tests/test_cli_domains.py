"""``mixopt domains versions|add|remove|split|merge``: on the local database (SQLite and PostgreSQL) and on a
running server with ``--url``; bad input is one line ``error: <field>: <message>`` and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from app.cli import app as cli
from app.settings import get_settings
from store.repository import Store

PROJECT: dict[str, Any] = {
    "name": "cd",
    "domains": [{"name": "web", "tokens": 6e9}, {"name": "code", "tokens": 3e9}, {"name": "books", "tokens": 1e9}],
    "objective": {"metric": "loss"},
}
RUN = {"external_id": "a", "weights": {"web": 0.5, "code": 0.3, "books": 0.2}, "metrics": {"loss": 3.0}}


@pytest.fixture
def local(store: Store, backend_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The CLI on the test database (no ``--url``), with project ``cd`` and one run in it."""
    from app.schemas import ProjectCreate, RunIn
    from app.services import projects, runs

    monkeypatch.setenv("MIXOPT_DATABASE_URL", backend_url)
    get_settings.cache_clear()
    projects.create_project(store, ProjectCreate.model_validate(PROJECT))
    runs.ingest_runs(store, "cd", [RunIn.model_validate(RUN)], lease_seconds=60, max_runs=10)
    yield store
    get_settings.cache_clear()


def mixopt(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> str:
    result = mixopt(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(*args: str, code: int = 1) -> str:
    """The one error line of a refused command."""
    result = mixopt(*args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


def _changes(*url: str) -> list[dict[str, Any]]:
    """Split, add, merge and remove, each with the CLI; the versions as ``versions --format json`` lists them."""
    out = ok("domains", "split", "cd", "web", "web/high=2e9", "web/low=4e9", "--note", "quality split", *url)
    assert out.strip() == "cd: split web into web/high, web/low (domain set version 2, 4 domains)"
    assert "version 3, 6 domains" in ok("domains", "add", "cd", "math=1e9", "wiki", *url)
    out = ok("domains", "merge", "cd", "code", "books", "--into", "codebooks=4e9", *url)
    assert out.strip() == "cd: merged code, books into codebooks (domain set version 4, 5 domains)"
    assert "removed wiki (domain set version 5, 4 domains)" in ok(
        "domains", "remove", "cd", "wiki", "--note", "not licensed", *url
    )
    return list(json.loads(ok("domains", "versions", "cd", "--format", "json", *url)))


def _check_history(items: list[dict[str, Any]]) -> None:
    assert [v["version"] for v in items] == [1, 2, 3, 4, 5]
    assert [v["change"] and v["change"]["op"] for v in items] == [None, "split", "add", "merge", "remove"]
    assert [v["note"] for v in items] == ["", "quality split", "", "", "not licensed"]
    assert [d["name"] for d in items[-1]["domains"]] == ["web/high", "web/low", "codebooks", "math"]
    split = items[1]["change"]
    assert [(d["name"], d["tokens"]) for d in split["into"]] == [("web/high", 2e9), ("web/low", 4e9)]
    assert (items[3]["change"]["into"]["name"], items[3]["change"]["into"]["tokens"]) == ("codebooks", 4e9)
    assert items[2]["domains"][4] == {
        "name": "math",
        "tokens": 1e9,
        "min_weight": None,
        "max_weight": None,
        "max_epochs": None,
    }
    assert all(v["created_at"] and v["created_at"].endswith("Z") for v in items)


BAD: list[tuple[list[str], str, int]] = [
    # (command, the field its one error line names, exit code)
    (["remove", "cd", "nope"], "names[0]: ", 1),
    (["remove", "cd", "web/high", "web/low", "math", "codebooks"], "names: ", 1),
    (["add", "cd", "math"], "domains[0].name: ", 1),
    (["add", "cd", "ok", "bad name!"], "domains[1].name: ", 1),
    (["add", "cd", "x=lots"], "domains[0].tokens: ", 2),
    (["split", "cd", "math", "m/a=1e9", "m/b=zero"], "into[1].tokens: ", 2),
    (["split", "cd", "nope", "a=1", "b=1"], "name: ", 1),
    (["split", "cd", "math", "m/a=1e9", "web/low=1e9"], "into[1].name: ", 1),
    (["merge", "cd", "math", "nope", "--into", "m"], "names[1]: ", 1),
    (["merge", "cd", "math", "codebooks", "--into", "web/low"], "into.name: ", 1),
    (["split", "gone", "math", "a=1", "b=1"], "does not exist", 1),
]


def _refuses_bad_input(store: Store | None, *url: str) -> None:
    before = json.loads(ok("domains", "versions", "cd", "--format", "json", *url))
    for args, field, code in BAD:
        line = refused("domains", *args, *url, code=code)
        assert line.startswith(field) if field.endswith(": ") else field in line, (args, line)
    assert json.loads(ok("domains", "versions", "cd", "--format", "json", *url)) == before
    if store is not None:
        assert store.get_project("cd").domain_version == 5


def test_domain_changes_on_the_local_database(local: Store) -> None:
    assert "created" in ok("domains", "versions", "cd")
    items = _changes()
    _check_history(items)
    stored = local.domain_versions(local.get_project("cd").id)
    assert [(v.version, v.change, v.note) for v in stored] == [(v["version"], v["change"], v["note"]) for v in items]
    words = set(ok("domains", "versions", "cd").replace(",", " ").split())  # the table (its cells may wrap)
    assert {"created", "split", "added", "merged", "removed", "quality", "licensed", "wiki", "2", "5"} <= words
    # the run keeps its version; the mixers map it onto the current set
    runs = json.loads(ok("runs", "cd", "--format", "json"))
    assert [r["domain_version"] for r in runs] == [1]
    _refuses_bad_input(local)


def test_export_and_import_create_carry_the_versions(local: Store, tmp_path: Path) -> None:
    _changes()
    ok("runs", "cd")  # the run at version 1 is still there
    exported = tmp_path / "cd.jsonl"
    ok("export", "cd", "--format", "jsonl", "-o", str(exported))
    ok("import", "cd-copy", str(exported), "--create")
    assert json.loads(ok("domains", "versions", "cd-copy", "--format", "json")) == json.loads(
        ok("domains", "versions", "cd", "--format", "json")
    )
    [run] = json.loads(ok("runs", "cd-copy", "--format", "json"))
    assert run["domain_version"] == 1 and run["weights"] == {"web": 0.5, "code": 0.3, "books": 0.2}


def test_the_help_lists_the_commands() -> None:
    text = ok("domains", "--help")
    for command in ("versions", "add", "remove", "split", "merge"):
        assert command in text
    assert "NAME=TOKENS" in ok("domains", "split", "--help")
    assert "--into" in ok("domains", "merge", "--help")


@pytest.mark.slow
def test_domain_changes_on_a_server_with_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mixopt.client import Client
    from tests.server import running_server

    monkeypatch.setenv("MIXOPT_DATA_DIR", str(tmp_path / "local"))  # a local database that stays empty
    monkeypatch.delenv("MIXOPT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with running_server(tmp_path / "server") as url:
            with Client(url) as mx:
                mx.create_project("cd", PROJECT["domains"], "loss")
                mx.add_runs("cd", [RUN])
            items = _changes("--url", url)
            _check_history(items)
            with Client(url) as mx:
                assert [v.version for v in mx.domain_versions("cd")] == [1, 2, 3, 4, 5]
                assert mx.get_project("cd").domain_version == 5
            _refuses_bad_input(None, "--url", url)
            assert "does not exist" in refused("domains", "versions", "cd")  # not in the local database
    finally:
        get_settings.cache_clear()
