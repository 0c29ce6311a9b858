"""Versioned domain sets over HTTP (SQLite and PostgreSQL): each change makes a numbered version with its change
log, runs keep the version they were trained on, and the mixers' answers over older runs say how each was mapped
(``diagnostics.domain_mapping``); a bad change is a 422 naming the field and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.access import create_token
from mixopt.client import Client
from store.errors import Conflict
from store.records import NewDomainVersion
from store.repository import Store
from tests.conftest import make_client
from tests.test_api_runs import assert_problem

BASE = "/api/v1/projects/dv"
LINEAR = {"mixer": "regmix", "config": {"model": "linear", "n_candidates": 4000, "top_k": 16}}
PROJECT: dict[str, Any] = {
    "name": "dv",
    "domains": [{"name": "web", "tokens": 6e9}, {"name": "code", "tokens": 3e9}, {"name": "books", "tokens": 1e9}],
    "objective": {"metric": "loss"},
}


def _loss(w: dict[str, float]) -> float:
    return 3.0 - 0.5 * w.get("web", 0.0) - 0.3 * w.get("code", 0.0) + 0.2 * w.get("books", 0.0)


def _v1_runs(n: int = 12, zero: str | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` completed runs over web, code, books; the first 3 have no weight on ``zero``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w = rng.dirichlet(np.ones(3))
        if zero is not None and i < 3:
            w[["web", "code", "books"].index(zero)] = 0.0
            w /= w.sum()
        weights = dict(zip(["web", "code", "books"], (round(float(x), 6) for x in w), strict=True))
        weights["books"] = round(1.0 - weights["web"] - weights["code"], 6)
        out.append({"external_id": f"v1-{i}", "weights": weights, "metrics": {"loss": _loss(weights)}})
    return out


@pytest.fixture
def dv(client: TestClient) -> TestClient:
    r = client.post("/api/v1/projects", json=PROJECT)
    assert r.status_code == 201, r.text
    assert r.json()["domain_version"] == 1
    return client


def _post(client: TestClient, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = client.post(f"{BASE}/runs", json={"runs": runs})
    assert r.status_code == 201, r.text
    return list(r.json()["runs"])


def _versions(client: TestClient) -> list[dict[str, Any]]:
    r = client.get(f"{BASE}/domains/versions")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _change(client: TestClient, change: dict[str, Any]) -> dict[str, Any]:
    r = client.patch(f"{BASE}/domains", json=change)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _new_runs(names: list[str], n: int = 4) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        w = rng.dirichlet(np.ones(len(names)))
        weights = {k: float(v) for k, v in zip(names, w, strict=True)}
        out.append({"external_id": f"v2-{i}", "weights": weights, "metrics": {"loss": 2.9 + 0.01 * i}})
    return out


def _recommend(client: TestClient) -> dict[str, Any]:
    r = client.post(f"{BASE}/recommendations", json=LINEAR)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_version_one_exists_at_creation(dv: TestClient, store: Store) -> None:
    [v1] = _versions(dv)
    assert v1["version"] == 1 and v1["change"] is None and v1["note"] == ""
    assert [d["name"] for d in v1["domains"]] == ["web", "code", "books"]
    assert [v.version for v in store.domain_versions(store.get_project("dv").id)] == [1]


def test_add_maps_every_old_run_exactly(dv: TestClient, store: Store) -> None:
    old = _post(dv, _v1_runs())
    assert {r["domain_version"] for r in old} == {1}
    before = store.get_project("dv").data_version
    project = _change(dv, {"op": "add", "domains": [{"name": "math", "tokens": 1e9}], "note": "new source"})
    assert project["domain_version"] == 2
    assert [d["name"] for d in project["domains"]] == ["web", "code", "books", "math"]
    assert store.get_project("dv").data_version == before + 1  # the fits are invalidated
    v1, v2 = _versions(dv)
    assert v2 == {
        **v2,
        "version": 2,
        "note": "new source",
        "change": {
            "op": "add",
            "domains": [{"name": "math", "tokens": 1e9, "min_weight": None, "max_weight": None, "max_epochs": None}],
        },
    }
    assert [d["name"] for d in v1["domains"]] == ["web", "code", "books"]
    new = _post(dv, _new_runs(["web", "code", "books", "math"]))
    assert {r["domain_version"] for r in new} == {2}
    runs = dv.get(f"{BASE}/runs").json()["runs"]
    assert [r["domain_version"] for r in runs] == [1] * 12 + [2] * 4  # runs keep their version
    mapping = _recommend(dv)["diagnostics"]["domain_mapping"]
    assert mapping == {
        "version": 2,
        "counts": {"exact": 12, "assumed": 0, "dropped": 0},
        "assumed_run_ids": [],
        "dropped_run_ids": [],
        "notes": [],
    }


def test_remove_drops_the_runs_that_trained_on_it(dv: TestClient) -> None:
    old = _post(dv, _v1_runs(zero="books"))
    _change(dv, {"op": "remove", "names": ["books"]})
    _post(dv, _new_runs(["web", "code"], n=6))
    rec = _recommend(dv)
    assert set(rec["weights"]) == {"web", "code"}
    mapping = rec["diagnostics"]["domain_mapping"]
    trained_on_books = [r["id"] for r in old if r["weights"]["books"] > 0]
    assert len(trained_on_books) == 9
    assert mapping["counts"] == {"exact": 3, "assumed": 0, "dropped": 9}
    assert mapping["dropped_run_ids"] == trained_on_books and mapping["assumed_run_ids"] == []
    assert mapping["notes"] == ["trained on removed domain 'books'"]
    assert rec["diagnostics"]["runs_used"] == 3 + 6  # the dropped runs are left out of the fit
    # a run still open from version 1: a proposal plans around the open runs, so it counts there (dropped)
    [open_run] = _post(dv, [{"weights": {"web": 0.4, "code": 0.4, "books": 0.2}, "domain_version": 1}])
    assert open_run["status"] == "pending" and open_run["domain_version"] == 1
    prop = dv.post(f"{BASE}/proposals", json={**LINEAR, "n": 2})
    assert prop.status_code == 201, prop.text
    proposed = prop.json()["diagnostics"]["domain_mapping"]
    assert proposed["counts"] == {"exact": 3, "assumed": 0, "dropped": 10}
    assert proposed["dropped_run_ids"] == [*trained_on_books, open_run["id"]]
    assert _recommend(dv)["diagnostics"]["domain_mapping"] == mapping  # a recommendation reads completed runs


def test_split_divides_the_parent_by_token_shares(dv: TestClient) -> None:
    old = _post(dv, _v1_runs(zero="web"))
    into = [{"name": "web/high", "tokens": 1.5e9}, {"name": "web/low", "tokens": 4.5e9}]
    project = _change(dv, {"op": "split", "name": "web", "into": into})
    assert [d["name"] for d in project["domains"]] == ["web/high", "web/low", "code", "books"]
    assert project["families"] == [
        {"name": "web", "domains": ["web/high", "web/low"], "min_weight": None, "max_weight": None}
    ]
    names = [d["name"] for d in project["domains"]]
    _post(dv, _new_runs(names))
    assumed = [r["id"] for r in old if r["weights"]["web"] > 0]
    rec = _recommend(dv)
    mapping = rec["diagnostics"]["domain_mapping"]
    assert mapping["counts"] == {"exact": 3, "assumed": 9, "dropped": 0}
    assert mapping["assumed_run_ids"] == assumed and mapping["dropped_run_ids"] == []
    assert mapping["notes"] == ["'web' divided by its parts' token shares"]
    # every answer over the old runs says so: predictions, evaluations, importance, proposals
    mixture = {n: 0.25 for n in names}
    pred = dv.post(f"{BASE}/predictions", json={**LINEAR, "mixtures": [mixture]})
    assert pred.status_code == 200, pred.text
    assert pred.json()["diagnostics"]["domain_mapping"] == mapping
    ev = dv.post(f"{BASE}/evaluations", json={"mixers": [LINEAR], "folds": 2})
    assert ev.status_code == 200, ev.text
    assert ev.json()["diagnostics"]["domain_mapping"] == mapping
    assert ev.json()["results"][0]["n_runs"] == 16
    imp = dv.post(f"{BASE}/importance", json=LINEAR)
    assert imp.status_code == 200, imp.text
    assert imp.json()["diagnostics"]["domain_mapping"] == mapping
    prop = dv.post(f"{BASE}/proposals", json={**LINEAR, "n": 2})
    assert prop.status_code == 201, prop.text
    assert prop.json()["diagnostics"]["domain_mapping"] == mapping
    assert {r["domain_version"] for r in prop.json()["runs"]} == {2}  # proposed at the current version


def test_merge_sums_exactly(dv: TestClient) -> None:
    _post(dv, _v1_runs())
    project = _change(dv, {"op": "merge", "names": ["code", "books"], "into": {"name": "codebooks"}})
    assert [d["name"] for d in project["domains"]] == ["web", "codebooks"]
    assert project["domains"][1]["tokens"] == 4e9  # the parts' tokens summed
    _post(dv, _new_runs(["web", "codebooks"]))
    mapping = _recommend(dv)["diagnostics"]["domain_mapping"]
    assert mapping["counts"] == {"exact": 12, "assumed": 0, "dropped": 0}


def test_changes_chain_and_answers_at_one_version_carry_no_mapping(dv: TestClient) -> None:
    _post(dv, _v1_runs())
    assert "domain_mapping" not in _recommend(dv)["diagnostics"]
    _change(dv, {"op": "split", "name": "web", "into": [{"name": "web/a"}, {"name": "web/b"}]})
    _change(dv, {"op": "merge", "names": ["code", "books"], "into": {"name": "rest"}})
    _change(dv, {"op": "add", "domains": [{"name": "math"}]})
    assert [v["version"] for v in _versions(dv)] == [1, 2, 3, 4]
    assert [v["change"]["op"] for v in _versions(dv)[1:]] == ["split", "merge", "add"]
    _post(dv, _new_runs(["web/a", "web/b", "rest", "math"], n=6))
    mapping = _recommend(dv)["diagnostics"]["domain_mapping"]
    assert mapping["version"] == 4
    assert mapping["counts"] == {"exact": 0, "assumed": 12, "dropped": 0}  # the split's assumption carries on


def test_runs_name_the_version_their_weights_are_over(dv: TestClient) -> None:
    _change(dv, {"op": "remove", "names": ["books"]})
    [old] = _post(
        dv, [{"weights": {"web": 0.5, "code": 0.3, "books": 0.2}, "metrics": {"loss": 3}, "domain_version": 1}]
    )
    assert old["domain_version"] == 1 and set(old["weights"]) == {"web", "code", "books"}
    [now] = _post(dv, [{"weights": {"web": 0.5, "code": 0.5}, "metrics": {"loss": 3}}])
    assert now["domain_version"] == 2
    r = dv.post(f"{BASE}/runs", json={"runs": [{"weights": {"web": 0.5, "code": 0.5}, "domain_version": 3}]})
    assert_problem(r, 422, "invalid_runs", "runs[0].domain_version")
    r = dv.post(f"{BASE}/runs", json={"runs": [{"weights": {"web": 0.5, "books": 0.5}}]})
    assert_problem(r, 422, "invalid_runs", "runs[0].weights.books")
    r = dv.post(f"{BASE}/runs", json={"runs": [{"weights": {"web": 0.5, "code": 0.5}, "domain_version": 0}]})
    assert_problem(r, 422, loc="runs[0].domain_version")
    assert len(dv.get(f"{BASE}/runs").json()["runs"]) == 2
    # the same run sent again (same external id, same version) is a replay, not a conflict
    run = {
        "external_id": "x",
        "weights": {"web": 0.5, "code": 0.5, "books": 0.0},
        "metrics": {"loss": 3},
        "domain_version": 1,
    }
    assert _post(dv, [run])[0]["id"] == _post(dv, [run])[0]["id"]


BAD_CHANGES: list[tuple[dict[str, Any], str]] = [
    ({"op": "remove", "names": ["code", "nope"]}, "names[1]"),
    ({"op": "add", "domains": [{"name": "math"}, {"name": "math"}]}, "domains[1].name"),
    ({"op": "add", "domains": [{"name": "code"}]}, "domains[0].name"),
    ({"op": "add", "domains": [{"name": "a b"}]}, "domains[0].name"),
    ({"op": "split", "name": "web", "into": [{"name": "web/a"}]}, "into"),
    ({"op": "split", "name": "nope", "into": [{"name": "a"}, {"name": "b"}]}, "name"),
    ({"op": "split", "name": "web", "into": [{"name": "web/a"}, {"name": "web/a"}]}, "into[1].name"),
    ({"op": "merge", "names": ["code"], "into": {"name": "c"}}, "names"),
    ({"op": "merge", "names": ["code", "books"], "into": {"name": "web"}}, "into.name"),
    ({"op": "remove", "names": ["web", "code", "books"]}, "names"),
    ({"op": "rename", "names": ["web"]}, "op"),
    ({"names": ["web"]}, "op"),
    ({"op": "add", "domains": [{"name": "math", "min_weight": 0.7}, {"name": "law", "min_weight": 0.7}]}, "domains"),
    ({"op": "remove", "names": ["web"], "extra": 1}, "extra"),
    ({"op": "add", "domains": [{"name": "math\u0000"}]}, "domains[0].name"),
]


@pytest.mark.parametrize(("change", "loc"), BAD_CHANGES)
def test_a_bad_change_is_a_422_naming_the_field_and_writes_nothing(
    dv: TestClient, store: Store, change: dict[str, Any], loc: str
) -> None:
    before = (store.get_project("dv"), _versions(dv))
    assert_problem(dv.patch(f"{BASE}/domains", json=change), 422, "invalid_domain_change", loc)
    assert (store.get_project("dv"), _versions(dv)) == before


def test_a_change_may_not_strand_a_family_bound(client: TestClient, store: Store) -> None:
    body = {
        **PROJECT,
        "domains": [{"name": "dclm/a"}, {"name": "dclm/b"}, {"name": "code"}],
        "families": [{"name": "dclm", "max_weight": 0.5}],
    }
    assert client.post("/api/v1/projects", json=body).status_code == 201
    before = _versions(client)
    change: dict[str, Any] = {"op": "merge", "names": ["dclm/a", "dclm/b"], "into": {"name": "dclm_all"}}
    problem = assert_problem(client.patch(f"{BASE}/domains", json=change), 422, "invalid_domain_change", "into")
    assert "dclm" in problem["errors"][0]["msg"]
    # a bound the new domains' own bounds make infeasible
    change = {"op": "add", "domains": [{"name": "dclm/c", "min_weight": 0.6}]}
    assert_problem(client.patch(f"{BASE}/domains", json=change), 422, "invalid_domain_change", "domains")
    assert _versions(client) == before
    # within the family the change is fine
    project = _change(client, {"op": "merge", "names": ["dclm/a", "dclm/b"], "into": {"name": "dclm/ab"}})
    assert project["families"] == [{"name": "dclm", "domains": ["dclm/ab"], "min_weight": None, "max_weight": 0.5}]


def test_patching_the_project_makes_no_version(dv: TestClient) -> None:
    domains = [{**d, "max_weight": 0.9} for d in PROJECT["domains"]]
    r = dv.patch(BASE, json={"domains": domains})
    assert r.status_code == 200 and r.json()["domain_version"] == 1
    assert len(_versions(dv)) == 1
    assert_problem(dv.patch(BASE, json={"domains": domains[:2]}), 422, "domains_changed")


def test_purge_removes_the_versions(dv: TestClient) -> None:
    _change(dv, {"op": "add", "domains": [{"name": "math"}]})
    assert dv.delete(BASE, params={"purge": "true", "confirm": "dv"}).status_code == 204
    assert dv.post("/api/v1/projects", json=PROJECT).status_code == 201  # the same name, a new project
    [v1] = _versions(dv)
    assert v1["change"] is None and [d["name"] for d in v1["domains"]] == ["web", "code", "books"]
    assert dv.get(BASE).json()["domain_version"] == 1


def test_unknown_project_and_versions_of_an_archived_one(dv: TestClient) -> None:
    assert_problem(dv.get("/api/v1/projects/nope/domains/versions"), 404, "project_not_found")
    assert_problem(dv.patch("/api/v1/projects/nope/domains", json={"op": "remove", "names": ["x"]}), 404)
    assert dv.delete(BASE).status_code == 204
    assert_problem(dv.get(f"{BASE}/domains/versions"), 404, "project_not_found")


def test_client_changes_domains_and_lists_versions(dv: TestClient) -> None:
    mx = Client(http=dv, retries=0)
    project = mx.change_domains(
        "dv", {"op": "split", "name": "web", "into": [{"name": "web/a"}, {"name": "web/b"}]}, note="by quality"
    )
    assert project.domain_version == 2 and project.domain_names == ["web/a", "web/b", "code", "books"]
    assert [f.name for f in project.families] == ["web"] and project.families[0].domains == ("web/a", "web/b")
    versions = mx.domain_versions("dv")
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].note == "by quality" and versions[1].change is not None
    assert versions[1].change["op"] == "split" and versions[0].change is None
    [run] = mx.add_runs("dv", [{"weights": {"web": 1.0, "code": 0.0, "books": 0.0}, "domain_version": 1}])
    assert run.domain_version == 1
    updated = mx.update_project("dv", families=[{"name": "web", "max_weight": 0.5}])
    assert updated.families[0].max_weight == 0.5
    assert mx.update_project("dv", families=[]).families[0].max_weight is None


def test_openapi_documents_the_routes(dv: TestClient) -> None:
    spec = dv.get("/openapi.json").json()
    change = spec["paths"]["/api/v1/projects/{name}/domains"]["patch"]
    assert {"200", "404", "409", "422"} <= set(change["responses"])
    body = change["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert schema["discriminator"]["propertyName"] == "op"
    assert {"add", "remove", "split", "merge"} == set(schema["discriminator"]["mapping"])
    versions = spec["paths"]["/api/v1/projects/{name}/domains/versions"]["get"]
    assert "200" in versions["responses"]
    assert {"families", "domain_version"} <= set(spec["components"]["schemas"]["ProjectOut"]["properties"])
    assert "domain_version" in spec["components"]["schemas"]["RunOut"]["properties"]
    assert "domain_version" in spec["components"]["schemas"]["RunIn"]["properties"]
    assert "families" in spec["components"]["schemas"]["ProjectCreate"]["properties"]


def test_store_appends_only_the_next_version_and_restores_a_chain(dv: TestClient, store: Store) -> None:
    pid = store.get_project("dv").id
    domains = [*PROJECT["domains"], {"name": "math"}]
    stale = NewDomainVersion(3, domains, {"op": "add", "domains": [{"name": "math"}]})
    with pytest.raises(Conflict):
        store.add_domain_version(pid, stale)  # made against version 2, which does not exist
    assert [v.version for v in store.domain_versions(pid)] == [1]
    v1 = NewDomainVersion(1, [{"name": "x"}, {"name": "y"}], None)
    v2 = NewDomainVersion(2, [{"name": "x"}], {"op": "remove", "names": ["y"]}, "drop y")
    restored = store.restore_domain_versions(pid, [v1, v2])
    assert (restored.domain_names, restored.domain_version) == (["x"], 2)
    assert [(v.version, v.note) for v in store.domain_versions(pid)] == [(1, ""), (2, "drop y")]


def test_a_project_token_changes_only_its_project(store: Store, tmp_path: Path) -> None:
    with make_client(store, tmp_path, auth=True) as client:
        admin = {"Authorization": f"Bearer {create_token(store)}"}
        for name in ("dv", "other"):
            assert client.post("/api/v1/projects", json={**PROJECT, "name": name}, headers=admin).status_code == 201
        scoped = {"Authorization": f"Bearer {create_token(store, project='dv')}"}
        change = {"op": "add", "domains": [{"name": "math"}]}
        assert client.patch(f"{BASE}/domains", json=change, headers=scoped).status_code == 200
        r = client.patch("/api/v1/projects/other/domains", json=change, headers=scoped)
        assert_problem(r, 404, "project_not_found")
        assert client.get("/api/v1/projects/other/domains/versions", headers=scoped).status_code == 404
        assert client.patch(f"{BASE}/domains", json=change).status_code == 401
