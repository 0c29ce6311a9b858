"""Importing runs from files: ``mixopt import`` of the shipped RegMix files, export -> import round trips, the one
reader (:mod:`app.services.table_import`) behind ``POST .../runs:import``, and the client sending big files in parts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.services import table_import
from app.services.access import create_token
from mixopt import Client, ValidationFailed, uploads
from store.repository import Store
from tests.conftest import DEMO, PROJECT, make_client


def mixopt(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIXOPT_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


REGMIX_IMPORT = (
    "import",
    "rm",
    str(DEMO / "train_mixture_1m.csv"),
    "--metrics",
    str(DEMO / "train_pile_loss_1m.csv"),
    "--key",
    "index",
    "--domain-prefix",
    "train_the_pile_",
    "--fidelity",
    "params=1e6",
    "--fidelity",
    "tokens=1e9",
)


def test_import_regmix_train_files(tmp_path: Path) -> None:
    proc = mixopt(
        tmp_path,
        *REGMIX_IMPORT,
        "--create",
        "--objective",
        "metric/the_pile_pile_cc_val_loss",
        "--token-shares",
        str(DEMO / "domains.csv"),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["written"] == 512
    out = mixopt(tmp_path, "export", "rm", "--format", "jsonl")
    settings, *runs = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert settings["project"]["objective"]["metric"] == "metric/the_pile_pile_cc_val_loss"
    assert len(runs) == 512
    mix = pd.read_csv(DEMO / "train_mixture_1m.csv").set_index("index")
    loss = pd.read_csv(DEMO / "train_pile_loss_1m.csv").set_index("index")
    for r in runs:
        idx = int(r["external_id"])
        assert len(r["weights"]) == 17 and len(r["metrics"]) == 13
        assert r["fidelity"] == {"params": 1e6, "tokens": 1e9}
        raw = {c.removeprefix("train_the_pile_"): v for c, v in mix.loc[idx].items()}
        assert r["weights_sum"] == pytest.approx(sum(raw.values()), abs=1e-12)
        for name, w in raw.items():
            assert r["weights"][name] * r["weights_sum"] == pytest.approx(w, abs=1e-12)
        for metric, value in loss.loc[idx].items():
            assert r["metrics"][metric] == value  # bit-exact
    # Idempotent: importing the same files again adds nothing.
    again = mixopt(tmp_path, *REGMIX_IMPORT, "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["total_runs"] == 512

    # CSV export -> import into a new project gives the same runs back.
    csv_path = tmp_path / "rm.csv"
    assert mixopt(tmp_path, "export", "rm", "-o", str(csv_path)).returncode == 0
    back = mixopt(
        tmp_path,
        "import",
        "rm2",
        str(csv_path),
        "--create",
        "--objective",
        "metric/the_pile_pile_cc_val_loss",
        "--format",
        "json",
    )
    assert back.returncode == 0, back.stderr
    runs2 = [json.loads(line) for line in mixopt(tmp_path, "export", "rm2", "--format", "jsonl").stdout.splitlines()]
    runs2 = runs2[1:]  # the settings line first
    for a, b in zip(runs, runs2, strict=True):
        assert (a["external_id"], a["metrics"], a["fidelity"], a["status"]) == (
            b["external_id"],
            b["metrics"],
            b["fidelity"],
            b["status"],
        )
        assert a["weights_sum"] == pytest.approx(b["weights_sum"], abs=1e-12)
        for k in a["weights"]:
            assert a["weights"][k] == pytest.approx(b["weights"][k], abs=1e-12)


def test_import_reports_bad_files_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("index,train_a,train_b,loss\n1,0.5,0.5,3.0\n2,0.9,0.5,2.0\n")
    proc = mixopt(
        tmp_path,
        "import",
        "x",
        str(bad),
        "--create",
        "--domain-prefix",
        "train_",
        "--objective",
        "loss",
        "--key",
        "index",
    )
    assert proc.returncode == 1
    assert "runs[1].weights" in proc.stderr
    listed = mixopt(tmp_path, "runs", "x", "--format", "json")
    assert json.loads(listed.stdout) == []


def test_cli_evaluate_scores_the_mixers_that_can_answer(tmp_path: Path) -> None:
    """``mixopt evaluate``: ``ot`` (no embeddings) reports its error in its row; the law is still scored."""
    imported = mixopt(tmp_path, *REGMIX_IMPORT, "--create", "--objective", "metric/the_pile_pile_cc_val_loss",
                      "--token-shares", str(DEMO / "domains.csv"))
    assert imported.returncode == 0, imported.stderr
    proc = mixopt(tmp_path, "evaluate", "rm", "--mixer", "ot", "--mixer", "mixing_law", "--folds", "3",
                  "--format", "json")
    assert proc.returncode == 0, proc.stderr
    ot, law = json.loads(proc.stdout)
    assert ot["mixer"] == "ot" and ot["spearman"] is None and ot["error"].startswith("mixer_cannot_answer")
    assert law["error"] is None and law["spearman"] > 0.9


# -- the one reader: app.services.table_import -----------------------------------------------------


def test_csv_rows_keep_their_lines_through_quotes_line_breaks_and_blank_lines() -> None:
    text = 'a,b\r\n"x, ""y""",2\n"multi\nline",3\n\nlast,4'
    assert table_import.record_lines(text) == [1, 2, 3, 6]
    df = table_import._read_csv(io.StringIO(text), {"a"})
    assert list(df["a"]) == ['x, "y"', "multi\nline", "last"]
    assert list(df["b"]) == [2, 3, 4]


def test_problems_name_the_run_and_its_line(client: TestClient, project: dict[str, Any]) -> None:
    csv = (
        "external_id,weight.web,weight.code,weight.books,metric.loss,note\n"
        'a,0.5,0.3,0.2,3.0,"two\nlines"\n'
        "\n"
        "b,0.5,0.3,x,3.1,\n"
    )
    r = _post(client, "p1", "runs.csv", csv)
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert err["loc"] == "runs[1]" and err["line"] == 5 and "x" in err["msg"]
    jsonl = "\n".join([json.dumps(RUN_A), "", json.dumps({**RUN_A, "external_id": "b", "weights": {"web": 1, "x": 0}})])
    r = _post(client, "p1", "runs.jsonl", jsonl)
    assert r.status_code == 422
    assert [(e["loc"], e["line"]) for e in r.json()["errors"]] == [("runs[1].weights.x", 3), ("runs[1].weights", 3)]
    assert "(line 3)" in r.json()["detail"]
    assert client.get("/api/v1/projects/p1/runs").json()["runs"] == []


def test_preview_reads_and_writes_nothing(client: TestClient, project: dict[str, Any]) -> None:
    csv = "external_id,web,code,books,loss,note\nr1,0.5,0.3,0.2,3.0,hi\nr2,0.2,0.3,0.5,2.5,ho\n"
    r = _post(client, "p1", "runs.csv", csv, preview="true", fidelity="tokens=1e9")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["rows"], answer["stored"], answer["total_runs"], answer["preview"]) == (2, 0, 0, True)
    assert answer["metrics"] == ["loss"] and answer["fidelities"] == [{"tokens": 1e9}]
    assert answer["ignored"] == ["note"]
    assert client.get("/api/v1/projects/p1/runs").json()["runs"] == []


def test_the_whole_file_is_one_transaction(client: TestClient, project: dict[str, Any]) -> None:
    assert client.post("/api/v1/projects/p1/runs", json={"runs": [RUN_A]}).status_code == 201
    rows = [{**RUN_A, "external_id": f"n{i}"} for i in range(3)] + [{**RUN_A, "metrics": {"loss": 9.0}}]
    r = _post(client, "p1", "runs.jsonl", "\n".join(map(json.dumps, rows)))
    assert r.status_code == 409 and r.json()["errors"][0] == {
        "loc": "runs[3].external_id", "msg": "run 'a' exists with different content", "line": 4
    }
    assert len(client.get("/api/v1/projects/p1/runs").json()["runs"]) == 1  # none of n0..n2 either


def test_a_jsonl_export_reads_back_as_a_no_op(client: TestClient, project: dict[str, Any]) -> None:
    sent = [{**RUN_A, "weights": {"web": 0.502, "code": 0.3, "books": 0.2}}, {"weights": RUN_A["weights"]}]
    assert client.post("/api/v1/projects/p1/runs", json={"runs": sent}).status_code == 201
    exported = client.get("/api/v1/projects/p1/export", params={"format": "jsonl"}).text
    same = _post(client, "p1", "p1.jsonl", exported).json()
    assert (same["rows"], same["already_there"], same["new"]) == (2, 2, 0)
    assert client.post("/api/v1/projects", json={**PROJECT, "name": "p2"}).status_code == 201
    for new in (2, 0):  # into another project: the raw weights come back (no conflict), then nothing is new
        again = _post(client, "p2", "p1.jsonl", exported).json()
        assert again["new"] == new and again["total_runs"] == 2
    assert {"lease_expires_at", "created_at"} <= set(again["ignored"])


def test_create_makes_the_project_from_the_columns_for_admins_only(store: Store, tmp_path: Path) -> None:
    with make_client(store, tmp_path, auth=True) as c:
        admin = {"Authorization": f"Bearer {create_token(store)}"}
        csv = "k,train_a,train_b,loss\n1,0.4,0.6,3.0\n"
        shares = "domain,token_share\ntrain_a,3\ntrain_b,1\n"
        missing = _post(c, "x", "m.csv", csv, headers=admin, domain_prefix="train_", key="k")
        assert missing.status_code == 404 and "create" in missing.json()["detail"]
        no_objective = _post(c, "x", "m.csv", csv, headers=admin, domain_prefix="train_", create="true")
        assert no_objective.status_code == 422 and no_objective.json()["errors"][0]["loc"] == "objective"
        made = _post(c, "x", "m.csv", csv, headers=admin, domain_prefix="train_", key="k", create="true",
                     objective="loss", files={"token_shares": ("d.csv", shares.encode())})
        assert made.status_code == 200 and made.json()["created"] and made.json()["new"] == 1
        project = c.get("/api/v1/projects/x", headers=admin).json()
        assert [(d["name"], d["tokens"]) for d in project["domains"]] == [("a", 3.0), ("b", 1.0)]
        scoped = {"Authorization": f"Bearer {create_token(store, project='x')}"}
        other = _post(c, "y", "m.csv", csv, headers=scoped, domain_prefix="train_", create="true", objective="loss")
        assert other.status_code == 404  # a project token names only its own project, which exists
        assert _post(c, "x", "m.csv", csv, headers=scoped, domain_prefix="train_", key="k").json()["new"] == 0


# -- the client: a big file in parts ---------------------------------------------------------------


def test_big_files_go_in_parts_and_problems_keep_the_files_terms(sqlite_client: TestClient, tmp_path: Path) -> None:
    mx = Client(http=sqlite_client)
    mx.create_project("p1", PROJECT["domains"], "loss")
    header = "external_id,weight.web,weight.code,weight.books,metric.loss,note\n"
    rows = [f'r{i},0.5,0.3,0.2,{3 - i / 10},"a\nb"\n' for i in range(5)]  # every row spans two lines
    good = tmp_path / "good.csv"
    good.write_text(header + "".join(rows))
    parts = uploads.split(good.read_bytes(), "csv", 2)
    assert [(p.first_run, p.runs, p.first_line) for p in parts] == [(0, 2, 2), (2, 2, 6), (4, 1, 10)]
    assert parts[1].data.decode().startswith(header) and parts[1].file_line(4) == 8
    seen: list[tuple[int, int]] = []
    result = mx.import_file("p1", good, part_rows=2, progress=lambda done, total: seen.append((done, total)))
    assert (result.rows, result.new, result.total_runs, len(result.raw)) == (5, 5, 5, 3)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert mx.import_file("p1", good, part_rows=2).new == 0

    bad = tmp_path / "bad.csv"
    bad.write_text(header + "".join(rows[:3]).replace("r", "s") + "s3,0.5,0.3,0.9,2.0,\n")
    with pytest.raises(ValidationFailed) as caught:
        mx.import_file("p1", bad, part_rows=2)
    [err] = caught.value.errors
    assert (err.loc, err.line) == ("runs[3].weights", 8)
    assert "runs[3].weights (line 8)" in caught.value.detail and "parts before it were written" in caught.value.detail
    assert len(list(mx.list_runs("p1"))) == 7  # the first part (s0, s1) stays


def test_the_cli_works_on_the_local_database_without_a_token_when_auth_is_on(tmp_path: Path) -> None:
    env = {**os.environ, "MIXOPT_DATA_DIR": str(tmp_path), "MIXOPT_AUTH": "on"}
    env.pop("MIXOPT_TOKEN", None)
    proc = subprocess.run([sys.executable, "-m", "app.cli", "projects", "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


RUN_A = {"external_id": "a", "weights": {"web": 0.5, "code": 0.3, "books": 0.2}, "metrics": {"loss": 3.0}}


def _post(
    client: TestClient,
    project: str,
    name: str,
    text: str,
    headers: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes]] | None = None,
    **form: str,
) -> httpx.Response:
    return client.post(
        f"/api/v1/projects/{project}/runs:import",
        files={"file": (name, text.encode()), **(files or {})},
        data=form,
        headers=headers,
    )


def test_hostile_files_are_problems_not_crashes(client: TestClient, project: dict[str, Any]) -> None:
    own = b"\x00line,weight.web,weight.code,weight.books,metric.loss\n1,0.5,0.3,0.2,1\n"  # the reader's own column
    taken = client.post("/api/v1/projects/p1/runs:import", files={"file": ("a.csv", own)})
    assert taken.status_code == 200 and taken.json()["ignored"] == ["\x00line"]
    cases = {
        "b.jsonl": b"[" * 10_000 + b"]" * 10_000,  # nested past the parser's recursion limit
        "c.csv": b"\xe9t\xe9,web\n",  # not UTF-8
        "d.csv": b"",
        "e.csv": b"web,code,books\n0.9,0.9,0.9\n",  # no external_id: checked while recognizing runs already here
    }
    for name, data in cases.items():
        r = client.post("/api/v1/projects/p1/runs:import", files={"file": (name, data)})
        assert r.status_code == 422, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0] == {
        "loc": "runs[0].weights", "line": 2, "msg": "weights sum to 2.7; they must sum to 1 (+-0.01)"
    }
