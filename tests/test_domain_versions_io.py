"""Export and import carry the domain set's versions (SQLite and PostgreSQL): the JSON-lines export re-creates a
project with its whole change log (a split, a merge, an add, family bounds) and its runs at every version; runs of
a file are checked against the version they name; a file whose versions conflict with the project's is a 422
naming the field and writes nothing; the CSV export carries each run's ``domain_version``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.test_api_runs import assert_problem
from tests.test_own_data import _comparable, _export, _import, _settings_and_runs

API = "/api/v1/projects"
PROJECT: dict[str, Any] = {
    "name": "hv",
    "domains": [{"name": "dclm/web", "tokens": 6e9}, {"name": "code", "tokens": 3e9}, {"name": "books", "tokens": 1e9}],
    "objective": {"metric": "loss"},
}
CHANGES: list[dict[str, Any]] = [
    {
        "op": "split",
        "name": "dclm/web",
        "into": [{"name": "dclm/web/high", "tokens": 2e9}, {"name": "dclm/web/low", "tokens": 4e9}],
        "note": "quality split",
    },
    {"op": "merge", "names": ["code", "books"], "into": {"name": "codebooks", "tokens": 4e9}},
    {"op": "add", "domains": [{"name": "math", "tokens": 1e9}], "note": "new source"},
]
FAMILIES = [{"name": "dclm/web", "min_weight": 0.1, "max_weight": 0.9}]


def _runs(names: list[str], version: int, n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w = rng.dirichlet(np.ones(len(names)))
        out.append(
            {
                "external_id": f"v{version}-{i}",
                "weights": {k: float(x) for k, x in zip(names, w, strict=True)},
                "metrics": {"loss": 3.0 - 0.1 * float(w[0]) + 0.01 * i},
            }
        )
    return out


def _post_runs(client: TestClient, project: str, runs: list[dict[str, Any]]) -> None:
    r = client.post(f"{API}/{project}/runs", json={"runs": runs})
    assert r.status_code == 201, r.text


def _versioned(client: TestClient) -> None:
    """``hv``: 5 runs at version 1, split (4 runs at 2), merge, add (4 runs at 4, one pending without id), family
    bounds set once the split made the family."""
    assert client.post(API, json=PROJECT).status_code == 201
    _post_runs(client, "hv", _runs(["dclm/web", "code", "books"], 1, 5, 0))
    assert client.patch(f"{API}/hv/domains", json=CHANGES[0]).status_code == 200
    _post_runs(client, "hv", _runs(["dclm/web/high", "dclm/web/low", "code", "books"], 2, 4, 1))
    r = client.patch(f"{API}/hv", json={"families": FAMILIES})
    assert r.status_code == 200, r.text
    for change in CHANGES[1:]:
        r = client.patch(f"{API}/hv/domains", json=change)
        assert r.status_code == 200, r.text
    assert r.json()["domain_version"] == 4
    names = ["dclm/web/high", "dclm/web/low", "codebooks", "math"]
    _post_runs(client, "hv", [*_runs(names, 4, 4, 2), {"weights": dict.fromkeys(names, 0.25)}])


def _versions(client: TestClient, project: str) -> list[dict[str, Any]]:
    r = client.get(f"{API}/{project}/domains/versions")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _count(client: TestClient, project: str) -> int:
    return len(client.get(f"{API}/{project}/runs", params={"max_results": 1000}).json()["runs"])


def test_a_jsonl_export_recreates_every_version_and_its_runs(client: TestClient) -> None:
    _versioned(client)
    exported = _export(client, "hv")
    settings, runs = _settings_and_runs(exported)
    project = settings["project"]
    assert project["families"] == FAMILIES and project["domain_version"] == 4
    history = project["domain_versions"]
    assert [v["version"] for v in history] == [1, 2, 3, 4]
    assert [v["change"] and v["change"]["op"] for v in history] == [None, "split", "merge", "add"]
    assert [v["note"] for v in history] == ["", "quality split", "", "new source"]
    assert all(v["created_at"] for v in history)
    assert [r["domain_version"] for r in runs] == [1] * 5 + [2] * 4 + [4] * 5

    made = _import(client, "hv-copy", "hv.jsonl", exported, create="true")
    assert made.status_code == 200, made.text
    assert (made.json()["created"], made.json()["written"]) == (True, 14)
    assert not {"project.domain_versions", "project.domain_version"} & set(made.json()["ignored"])
    again = _export(client, "hv-copy")
    assert _comparable(again) == _comparable(exported)  # settings with the change log, proposals, runs: equal
    assert _versions(client, "hv-copy") == _versions(client, "hv")
    copy = client.get(f"{API}/hv-copy").json()
    assert copy["domain_version"] == 4
    assert next(f for f in copy["families"] if f["name"] == "dclm/web")["max_weight"] == 0.9
    # the mixers map the copy's old runs as they map the original's
    counts = []
    for name in ("hv", "hv-copy"):
        rec = client.post(f"{API}/{name}/recommendations", json={"mixer": "regmix", "config": {"model": "linear"}})
        assert rec.status_code == 200, rec.text
        counts.append(rec.json()["diagnostics"]["domain_mapping"]["counts"])
    assert counts[0] == counts[1] == {"exact": 4, "assumed": 5, "dropped": 0}  # v2 runs exact, v1 split: assumed
    # importing it again is a no-op, into the copy and into the original
    for name in ("hv-copy", "hv"):
        same = _import(client, name, "hv.jsonl", exported).json()
        assert (same["written"], same["total_runs"]) == (0, 14), same


def test_runs_of_a_file_are_checked_against_their_version(client: TestClient) -> None:
    _versioned(client)
    old = _runs(["dclm/web", "code", "books"], 1, 1, 5)[0]
    # a run at version 2 with version 1's domains: its weights name a domain version 2 lacks
    wrong = {**old, "external_id": "w", "domain_version": 2}
    r = _import(client, "hv", "w.jsonl", json.dumps(old) + "\n" + json.dumps(wrong))
    assert_problem(r, 422, loc="runs[1].weights.dclm/web")
    # a version the project lacks
    r = _import(client, "hv", "x.jsonl", json.dumps({**old, "external_id": "x", "domain_version": 5}))
    body = assert_problem(r, 422, loc="runs[0].domain_version")
    assert "no domain version 5" in body["detail"]
    # the same, for runs without an external id (matched by content first)
    r = _import(client, "hv", "y.jsonl", json.dumps({"weights": old["weights"], "domain_version": 7}))
    assert_problem(r, 422, loc="runs[0].domain_version")
    assert _count(client, "hv") == 14
    # a run at an older version with that version's domains goes in, and keeps its version
    ok = _import(client, "hv", "ok.jsonl", json.dumps({**old, "external_id": "ok", "domain_version": 1})).json()
    assert ok["written"] == 1
    [run] = [x for x in client.get(f"{API}/hv/runs").json()["runs"] if x["external_id"] == "ok"]
    assert run["domain_version"] == 1 and set(run["weights"]) == {"dclm/web", "code", "books"}


def test_a_file_whose_versions_conflict_writes_nothing(client: TestClient) -> None:
    _versioned(client)
    exported = _export(client, "hv")
    # another project whose version 2 is an add, not the split: the file's runs at version 2 conflict
    other = {**PROJECT, "name": "other"}
    assert client.post(API, json=other).status_code == 201
    r = client.patch(f"{API}/other/domains", json={"op": "add", "domains": [{"name": "math"}]})
    assert r.status_code == 200, r.text
    r = _import(client, "other", "hv.jsonl", exported)
    body = assert_problem(r, 422, code="domain_version_conflict", loc="project.domain_versions[1].domains")
    assert "dclm/web/high" in body["detail"]
    assert _count(client, "other") == 0
    # at version 2, the file's runs at version 4 are at a version the project lacks
    r = _import(client, "other", "hv.jsonl", "\n".join(exported.splitlines()[:1] + exported.splitlines()[-3:]))
    assert_problem(r, 422, loc="runs[2].domain_version")  # the run without an id is checked first
    assert _count(client, "other") == 0


@pytest.mark.parametrize(
    ("tamper", "loc"),
    [
        (lambda h: h[2].update(version=5), "project.domain_versions[2].version"),
        (lambda h: h[2]["change"].update(names=["code", "nope"]), "project.domain_versions[2].change"),
        (lambda h: h[1]["change"].update(op="rename"), "project.domain_versions[1].change"),
        (lambda h: h[3]["domains"].pop(), "project.domain_versions[3].domains"),
        (lambda h: h[0].update(change={"op": "add", "domains": []}), "project.domain_versions[0].change"),
        (lambda h: h.pop(), "project.domain_versions"),
    ],
)
def test_a_bad_change_log_makes_no_project(client: TestClient, tamper: Any, loc: str) -> None:
    _versioned(client)
    first, *rest = _export(client, "hv").splitlines()
    settings = json.loads(first)
    tamper(settings["project"]["domain_versions"])
    r = _import(client, "bad", "hv.jsonl", "\n".join([json.dumps(settings), *rest]), create="true")
    assert_problem(r, 422, loc=loc)
    assert client.get(f"{API}/bad").status_code == 404


def test_the_csv_export_carries_each_runs_version(client: TestClient) -> None:
    _versioned(client)
    csv_text = _export(client, "hv", "csv")
    header = csv_text.splitlines()[0].split(",")
    assert header[:7] == ["id", "external_id", "status", "cost", "proposal_id", "created_at", "domain_version"]
    weights = [c for c in header if c.startswith("weight.")]
    assert weights == [
        "weight.dclm/web/high",
        "weight.dclm/web/low",
        "weight.codebooks",
        "weight.math",  # the current domains
        "weight.dclm/web",
        "weight.code",
        "weight.books",  # then the older ones that runs have weight on
    ]
    # into its own project: a no-op
    same = _import(client, "hv", "hv.csv", csv_text).json()
    assert (same["written"], same["total_runs"]) == (0, 14), same
    # a CSV holds no change log: it makes no project when its runs are at later versions
    r = _import(client, "hv-csv", "hv.csv", csv_text, create="true", objective="loss")
    body = assert_problem(r, 422, loc="runs[5].domain_version")
    assert "JSON-lines" in body["detail"]
    assert client.get(f"{API}/hv-csv").status_code == 404
    # into a project with the same versions (made from the JSON-lines export's settings and its last run): every
    # run at every version reads back with its weights and version
    exported = _export(client, "hv").splitlines()
    assert _import(client, "hv2", "s.jsonl", "\n".join([exported[0], exported[-1]]), create="true").status_code == 200
    done = _import(client, "hv2", "hv.csv", csv_text).json()
    assert done["written"] == 13, done

    def content(project: str) -> list[tuple[Any, ...]]:
        runs = client.get(f"{API}/{project}/runs", params={"max_results": 1000}).json()["runs"]
        return sorted(
            (r["external_id"] or "", r["domain_version"], json.dumps(r["weights"], sort_keys=True)) for r in runs
        )

    original = content("hv")
    assert content("hv2") == original and {v for _, v, _ in original} == {1, 2, 4}
