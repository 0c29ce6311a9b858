"""Your own data without guessing: domain names with a family prefix end to end, an objective no run reports, the
JSON-lines export re-creating its project losslessly, honest import counts, and the CLI's one-line errors."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from mixopt import Client, uploads
from tests.conftest import REPO

API = "/api/v1/projects"
FAMILIES = {
    "name": "fam",
    "description": "families of domains",
    "domains": [
        {"name": "dclm/web/high", "tokens": 4e9, "max_weight": 0.7},
        {"name": "dclm/web/low", "tokens": 8e9, "max_epochs": 2},
        {"name": "code", "tokens": 2e9, "min_weight": 0.05},
    ],
    "objective": {"metric": "loss", "direction": "minimize"},
    "target_fidelity": {"params": 1e9, "tokens": 2e10},
}


def _runs(n: int, metric: str = "loss", start: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        a = 0.1 + 0.5 * ((i * 7) % 10) / 10
        b = 0.1 + 0.3 * ((i * 3) % 10) / 10
        out.append(
            {
                "external_id": f"r{i}",
                "weights": {"dclm/web/high": a, "dclm/web/low": b, "code": round(1 - a - b, 12)},
                "fidelity": {"params": 1e6, "tokens": 1e9},
                "metrics": {metric: 3.0 + (a - 0.4) ** 2 + 0.1 * b},
            }
        )
    return out


def _import(client: TestClient, project: str, name: str, text: str, **form: str) -> httpx.Response:
    return client.post(f"{API}/{project}/runs:import", files={"file": (name, text.encode())}, data=form)


def _export(client: TestClient, project: str, fmt: str = "jsonl") -> str:
    r = client.get(f"{API}/{project}/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    return r.text


# -- families: family/name domain names ---------------------------------------------------------------


def test_family_names_work_end_to_end(client: TestClient) -> None:
    made = client.post(API, json=FAMILIES)
    assert made.status_code == 201, made.text
    assert [d["name"] for d in made.json()["domains"]] == ["dclm/web/high", "dclm/web/low", "code"]
    posted = client.post(f"{API}/fam/runs", json={"runs": _runs(6)})
    assert posted.status_code == 201, posted.text
    assert set(posted.json()["runs"][0]["weights"]) == {"dclm/web/high", "dclm/web/low", "code"}

    # CSV export names the weight columns weight.<family/name>; it imports into a project made from its header
    csv_text = _export(client, "fam", "csv")
    assert "weight.dclm/web/high" in csv_text.splitlines()[0]
    copy = _import(client, "fam-csv", "fam.csv", csv_text, create="true", objective="loss")
    assert copy.status_code == 200, copy.text
    assert (copy.json()["created"], copy.json()["written"]) == (True, 6)
    domains = client.get(f"{API}/fam-csv").json()["domains"]
    assert [d["name"] for d in domains] == ["dclm/web/high", "dclm/web/low", "code"]
    # a RegMix-style wide CSV: <prefix><family/name> columns
    wide = "id,train_dclm/web/high,train_dclm/web/low,train_code,loss\n1,0.5,0.3,0.2,3.1\n2,0.2,0.2,0.6,3.3\n"
    regmix = _import(
        client, "fam-wide", "w.csv", wide, create="true", objective="loss", key="id", domain_prefix="train_"
    )
    assert regmix.status_code == 200, regmix.text
    assert [r["weights"]["dclm/web/high"] for r in client.get(f"{API}/fam-wide/runs").json()["runs"]] == [0.5, 0.2]

    # embeddings: the set of a family name goes URL-encoded (and plain)
    vectors = {"vectors": [[1.0, 0.0], [0.5, 0.5]]}
    put = client.put(f"{API}/fam/embeddings/dclm%2Fweb%2Fhigh", json=vectors)
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "dclm/web/high"
    assert client.put(f"{API}/fam/embeddings/dclm/web/low", json=vectors).status_code == 200
    unknown = client.put(f"{API}/fam/embeddings/dclm%2Fnope", json=vectors)
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_set"
    listed = {e["name"] for e in client.get(f"{API}/fam/embeddings").json()}
    assert listed == {"dclm/web/high", "dclm/web/low"}

    rec = client.post(f"{API}/fam/recommendations", json={"mixer": "regmix", "config": {"model": "linear"}})
    assert rec.status_code == 200, rec.text
    assert set(rec.json()["weights"]) == {"dclm/web/high", "dclm/web/low", "code"}


@pytest.mark.parametrize("bad", ["dclm//web", "/web", "web/", "dclm/../web", "dclm/.hidden", "a b", "x" * 101])
def test_malformed_family_names_are_refused_naming_the_field(client: TestClient, bad: str) -> None:
    body = {**FAMILIES, "domains": [*FAMILIES["domains"], {"name": bad}]}
    r = client.post(API, json=body)
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["errors"]] == ["domains[3].name"]
    assert client.get(f"{API}/fam").status_code == 404


# -- an objective no run reports ----------------------------------------------------------------------


def test_an_objective_that_no_run_reports_is_refused(client: TestClient) -> None:
    runs = _runs(4, metric="val_loss")
    text = "\n".join(json.dumps(r) for r in runs)
    wrong = _import(client, "typo", "runs.jsonl", text, create="true", objective="loss")
    assert wrong.status_code == 422, wrong.text
    problem = wrong.json()
    assert problem["code"] == "objective_not_reported"
    [err] = problem["errors"]
    assert err["loc"] == "objective.metric"
    assert "'loss'" in err["msg"] and "val_loss" in err["msg"]
    assert client.get(f"{API}/typo").status_code == 404  # the misspelt project was not made

    # POST .../runs: completed runs of which none reports the objective, into a project where none does
    assert client.post(API, json={**FAMILIES, "objective": {"metric": "loss"}}).status_code == 201
    refused = client.post(f"{API}/fam/runs", json={"runs": runs})
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == "objective.metric"
    assert client.get(f"{API}/fam/runs").json()["runs"] == []
    pending = [{"weights": runs[0]["weights"]}]  # open runs report nothing yet: never refused
    assert client.post(f"{API}/fam/runs", json={"runs": pending}).status_code == 201
    # once a run reports it, runs with other metrics only are welcome (auxiliary metrics)
    assert client.post(f"{API}/fam/runs", json={"runs": _runs(3, start=10)}).status_code == 201
    assert client.post(f"{API}/fam/runs", json={"runs": runs}).status_code == 201


def test_mixers_say_no_completed_run_reports_the_objective(client: TestClient) -> None:
    assert client.post(API, json=FAMILIES).status_code == 201
    assert client.post(f"{API}/fam/runs", json={"runs": _runs(6)}).status_code == 201
    ok = {m["name"]: m for m in client.get(f"{API}/fam/mixers").json()}
    assert ok["regmix"]["available"] is True
    # the objective renamed to a metric no run reports
    assert client.patch(f"{API}/fam", json={"objective": {"metric": "val/acc"}}).status_code == 200
    after = {m["name"]: m for m in client.get(f"{API}/fam/mixers").json()}
    for name in ("regmix", "mixing_law", "mfbo"):
        assert after[name]["available"] is False
        assert after[name]["reason"].startswith("no completed run reports metric 'val/acc'")


# -- the JSON-lines export re-creates its project ------------------------------------------------------


def _without(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _settings_and_runs(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    first, *runs = [json.loads(line) for line in text.strip().splitlines()]
    return first, runs


def _comparable(text: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Settings (less the name), proposals and runs with ids and timestamps dropped; each run names its proposal
    by its position in the proposals' list."""
    first, runs = _settings_and_runs(text)
    position = {p["id"]: i for i, p in enumerate(first["proposals"])}
    proposals = [_without(p, "id", "created_at") for p in first["proposals"]]
    rows = [
        {
            **_without(r, "id", "created_at", "updated_at", "proposal_id"),
            "proposal": None if r["proposal_id"] is None else position[r["proposal_id"]],
        }
        for r in runs
    ]
    return _without(first["project"], "name"), proposals, rows


def test_a_jsonl_export_recreates_the_project_losslessly(client: TestClient) -> None:
    project = {
        **FAMILIES,
        "objective": {"metrics": {"loss": 1.0, "aux": 0.5}, "direction": "maximize"},
        "fidelities": [{"params": 1e6, "tokens": 1e9}, {"params": 1e9, "tokens": 2e10}],
        "allow_missing_domains": True,
    }
    assert client.post(API, json=project).status_code == 201
    assert client.patch(f"{API}/fam", json={"default_mixer": "mixing_law"}).status_code == 200
    runs = [{**r, "metrics": {"loss": r["metrics"]["loss"], "aux": 1.0}, "tags": {"team": "a"}} for r in _runs(6)]
    assert client.post(f"{API}/fam/runs", json={"runs": runs}).status_code == 201
    proposal = client.post(
        f"{API}/fam/proposals", json={"mixer": "regmix", "n": 2, "seed": 7, "config": {"model": "linear"}}
    )
    assert proposal.status_code == 201, proposal.text
    running = proposal.json()["runs"][0]["id"]
    assert client.post(f"{API}/fam/runs/{running}/heartbeat").status_code == 200
    exported = _export(client, "fam")
    settings, exported_runs = _settings_and_runs(exported)
    assert settings["project"]["domains"][0] == {
        "name": "dclm/web/high",
        "tokens": 4e9,
        "min_weight": None,
        "max_weight": 0.7,
        "max_epochs": None,
    }
    assert settings["project"]["fidelities"] == project["fidelities"]
    assert [p["seed"] for p in settings["proposals"]] == [7]
    assert sum(r["proposal_id"] is not None for r in exported_runs) == 2

    made = _import(client, "fam-copy", "fam.jsonl", exported, create="true")
    assert made.status_code == 200, made.text
    assert (made.json()["created"], made.json()["written"], made.json()["already_there"]) == (True, 8, 0)
    assert not {"proposal_id", "lease_expires_at"} & set(made.json()["ignored"])
    again = _export(client, "fam-copy")
    assert _comparable(again) == _comparable(exported)  # settings, proposals, runs, leases: all equal
    copy = client.get(f"{API}/fam-copy").json()
    assert copy["objective"]["direction"] == "maximize" and copy["allow_missing_domains"] is True
    assert copy["default_mixer"] == "mixing_law"
    statuses = sorted(r["status"] for r in _settings_and_runs(again)[1])
    assert statuses == ["completed"] * 6 + ["pending", "running"]


# -- import counts ------------------------------------------------------------------------------------


def test_import_counts_what_was_written_and_what_was_there(client: TestClient) -> None:
    assert client.post(API, json=FAMILIES).status_code == 201
    header = "external_id,weight.dclm/web/high,weight.dclm/web/low,weight.code,metric.loss\n"

    def rows(ids: range, named: bool = True) -> str:
        return "".join(
            f"{f'e{i}' if named else ''},{0.1 + i % 40 / 100},0.3,{0.6 - i % 40 / 100},{3 + i / 1000}\n" for i in ids
        )

    first = _import(client, "fam", "a.csv", header + rows(range(200))).json()
    assert (first["rows"], first["written"], first["already_there"]) == (200, 200, 0)
    same = _import(client, "fam", "a.csv", header + rows(range(200))).json()
    assert (same["rows"], same["written"], same["already_there"], same["total_runs"]) == (200, 0, 200, 200)
    overlap = _import(client, "fam", "b.csv", header + rows(range(150, 230))).json()
    assert (overlap["rows"], overlap["written"], overlap["already_there"]) == (80, 30, 50)
    # rows without an id are matched by content
    anonymous = header + rows(range(300, 310), named=False)
    assert _import(client, "fam", "c.csv", anonymous).json()["written"] == 10
    more = _import(client, "fam", "d.csv", anonymous + rows(range(310, 312), named=False)).json()
    assert (more["written"], more["already_there"], more["total_runs"]) == (2, 10, 242)


# -- the command line: one line per error -------------------------------------------------------------


def mixopt(data_dir: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIXOPT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    env.pop("MIXOPT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd
    )


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode in (1, 2), (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def test_the_cli_answers_bad_input_with_one_line_naming_the_field(tmp_path: Path) -> None:
    data = tmp_path / "db"
    bad_name = tmp_path / "bad.csv"
    bad_name.write_text("k,train_dclm/web,train_dclm//low,loss\n1,0.5,0.5,3.0\n")
    good = tmp_path / "good.csv"
    good.write_text("k,train_dclm/web,train_code,loss\n1,0.5,0.5,3.0\n2,0.2,0.8,3.2\n3,0.7,0.3,3.1\n")
    bad_weights = tmp_path / "weights.csv"
    bad_weights.write_text("k,train_dclm/web,train_code,loss\n1,0.5,0.9,3.0\n")
    prefix = ("--key", "k", "--domain-prefix", "train_")
    cases: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        (("import", "p", str(bad_name), "--create", "--objective", "loss", *prefix), ("domains[1].name", "dclm//low")),
        (("import", "p", str(good), "--create", "--objective", "lossx", *prefix), ("objective.metric", "'lossx'")),
        (("import", "p", str(tmp_path / "missing.csv")), ("file", "missing.csv")),
        (("import", "p", str(good), "--create", *prefix), ("objective",)),
        (("import", "p", str(good), "--fidelity", "tokens"), ("--fidelity",)),
        (("runs", "nope"), ("project 'nope' does not exist",)),
        (("export", "nope", "--format", "xml"), ("--format",)),
        (("recommend", "nope"), ("nope",)),
        (("propose", "nope", "--config", "{"), ("--config",)),
        (("evaluate", "nope", "--folds", "many"), ("folds",)),
        (("projects", "--url", "http://127.0.0.1:9"), ("127.0.0.1:9",)),
    ]
    for args, needles in cases:
        _one_line_error(mixopt(data, *args), *needles)
    # a project made, then runs that break a rule: the run and its line are named
    made = mixopt(data, "import", "p", str(good), "--create", "--objective", "loss", *prefix)
    assert made.returncode == 0, made.stderr
    _one_line_error(mixopt(data, "import", "p", str(bad_weights), *prefix), "runs[0].weights (line 2)")
    _one_line_error(mixopt(data, "evaluate", "p", "--mixer", "nope"), "mixer", "nope")
    _one_line_error(mixopt(data, "propose", "p", "-n", "0"), "n")


def test_the_cli_round_trips_its_jsonl_export(tmp_path: Path) -> None:
    data = tmp_path / "db"
    good = tmp_path / "good.csv"
    good.write_text("k,train_dclm/web,train_code,loss\n1,0.5,0.5,3.0\n2,0.2,0.8,3.2\n3,0.7,0.3,3.1\n")
    shares = tmp_path / "shares.csv"
    shares.write_text("domain,token_share\ntrain_dclm/web,3\ntrain_code,1\n")
    made = mixopt(
        data,
        "import",
        "p",
        str(good),
        "--create",
        "--objective",
        "loss",
        "--key",
        "k",
        "--domain-prefix",
        "train_",
        "--token-shares",
        str(shares),
        "--fidelity",
        "tokens=1e9",
    )
    assert made.returncode == 0, made.stderr
    exported = tmp_path / "p.jsonl"
    assert mixopt(data, "export", "p", "--format", "jsonl", "-o", str(exported)).returncode == 0
    back = mixopt(data, "import", "q", str(exported), "--create", "--format", "json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)[0] | {"project": "q"} == {
        "project": "q",
        "rows": 3,
        "written": 3,
        "already_there": 0,
        "total_runs": 3,
        "created": True,
    }
    again = mixopt(data, "export", "q", "--format", "jsonl").stdout
    assert _comparable(again) == _comparable(exported.read_text())
    assert json.loads(again.splitlines()[0])["project"]["domains"][0]["tokens"] == 3.0


# -- the documented CSV layout ----------------------------------------------------------------------


def _readme_block(marker: str) -> str:
    """The fenced shell block of README.md that holds ``marker``."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    [block] = [b for b in blocks if marker in b]
    return block


def test_the_readme_imports_the_example_csv(tmp_path: Path) -> None:
    block = _readme_block("docs/examples/runs.csv")
    command = " ".join(
        line.split("#")[0].strip().rstrip("\\")
        for line in block.splitlines()
        if line.strip().startswith("mixopt import") or line.startswith("  ")
    )
    args = command.split()
    assert args[:2] == ["mixopt", "import"], command
    proc = mixopt(tmp_path, *args[1:], "--format", "json", cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    [answer] = json.loads(proc.stdout)
    example = (REPO / "docs" / "examples" / "runs.csv").read_text().strip().splitlines()
    assert answer["created"] and answer["written"] == len(example) - 1
    project = answer["project"]
    runs = json.loads(mixopt(tmp_path, "runs", project, "--format", "json", "--limit", "1000").stdout)
    assert len(runs) == len(example) - 1
    assert any("/" in d for d in runs[0]["weights"])  # the example's family names
    assert all(r["metrics"] and r["fidelity"] for r in runs)


def test_import_help_documents_the_csv_layout(tmp_path: Path) -> None:
    text = mixopt(tmp_path, "import", "--help").stdout
    for needle in (
        "weight.<domain>",
        "metric.<name>",
        "fidelity.<key>",
        "--domain-prefix",
        "--key",
        "--metrics",
        "RegMix",
        "settings",
    ):
        assert needle in text, needle


def test_embeddings_arrays_of_family_sets_load_back(client: TestClient) -> None:
    """``.npy`` bytes for an encoded family name, read back by the OT mixer's loader under the same name."""
    assert client.post(API, json=FAMILIES).status_code == 201
    buf = io.BytesIO()
    np.save(buf, np.eye(3, dtype=np.float32))
    put = client.put(
        f"{API}/fam/embeddings/dclm%2Fweb%2Flow",
        content=buf.getvalue(),
        headers={"content-type": "application/octet-stream"},
    )
    assert put.status_code == 200 and put.json()["shape"] == [3, 3]


def test_a_big_jsonl_export_goes_in_parts_headed_by_its_settings(sqlite_client: TestClient, tmp_path: Path) -> None:

    assert sqlite_client.post(API, json=FAMILIES).status_code == 201
    assert sqlite_client.post(f"{API}/fam/runs", json={"runs": _runs(5)}).status_code == 201
    path = tmp_path / "fam.jsonl"
    path.write_text(_export(sqlite_client, "fam"))
    parts = uploads.split(path.read_bytes(), "jsonl", 2)
    assert [(p.first_run, p.runs, p.first_line, p.header_lines) for p in parts] == [
        (0, 2, 2, 1),
        (2, 2, 4, 1),
        (4, 1, 6, 1),
    ]
    assert all(json.loads(p.data.decode().splitlines()[0])["project"]["name"] == "fam" for p in parts)
    result = Client(http=sqlite_client).import_file("copy", path, create=True, part_rows=2)
    assert (result.created, result.rows, result.written, result.already_there) == (True, 5, 5, 0)
    assert _comparable(_export(sqlite_client, "copy")) == _comparable(path.read_text())


def test_an_export_saved_under_another_name_is_read_as_json_lines(client: TestClient) -> None:
    assert client.post(API, json=FAMILIES).status_code == 201
    assert client.post(f"{API}/fam/runs", json={"runs": _runs(3)}).status_code == 201
    exported = _export(client, "fam")
    made = _import(client, "fam-txt", "fam.export.txt", exported, create="true")
    assert made.status_code == 200, made.text
    assert (made.json()["created"], made.json()["written"]) == (True, 3)


def test_settings_an_import_cannot_set_are_reported(client: TestClient) -> None:
    assert client.post(API, json=FAMILIES).status_code == 201
    assert client.post(f"{API}/fam/runs", json={"runs": _runs(3)}).status_code == 201
    first, *rest = _export(client, "fam").splitlines()
    settings = json.loads(first)
    settings["project"]["from_a_newer_server"] = 1
    text = "\n".join([json.dumps(settings), *rest])
    made = _import(client, "fam-new", "fam.jsonl", text, create="true").json()
    assert made["created"] and "project.from_a_newer_server" in made["ignored"]
    into_existing = _import(client, "fam", "fam.jsonl", text).json()
    assert "project" in into_existing["ignored"] and into_existing["already_there"] == 3
