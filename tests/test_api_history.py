"""The answers' history over HTTP (SQLite and PostgreSQL): every recommendation and evaluation is stored and
listed newest first, paged, read back by id, hidden by an archive and deleted by a purge; the project's default
mixer; the best run per fidelity in the project list; a recommendation compared at its own fidelity."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.repository import Store
from tests.conftest import PROJECT
from tests.test_api_fidelity import FAST_REGMIX, MID, SMALL, _runs
from tests.test_api_runs import assert_problem

BASE = "/api/v1/projects/p1"
REGMIX = {"mixer": "regmix", "config": FAST_REGMIX}


@pytest.fixture
def two_fidelities(client: TestClient, project: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """10 completed runs at SMALL and 6 at MID, plus a failed and a pending run that must never count as best."""
    runs = {"small": _runs(10, SMALL, 1, 0.2), "mid": _runs(6, MID, 2, 0.1)}
    extra = [
        {
            "external_id": "failed",
            "weights": {"web": 0.5, "code": 0.3, "books": 0.2},
            "fidelity": SMALL,
            "status": "failed",
            "metrics": {"loss": 0.1},
        },
        {
            "external_id": "open",
            "weights": {"web": 0.4, "code": 0.3, "books": 0.3},
            "fidelity": MID,
            "status": "pending",
        },
    ]
    resp = client.post(f"{BASE}/runs", json={"runs": runs["small"] + runs["mid"] + extra})
    assert resp.status_code == 201, resp.text
    ids = {r["external_id"]: r["id"] for r in resp.json()["runs"]}
    for fid_runs in runs.values():
        for r in fid_runs:
            r["id"] = ids[r["external_id"]]
    return runs


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["metrics"]["loss"])


def test_recommendations_are_stored_listed_newest_first_paged_and_read_by_id(
    client: TestClient, two_fidelities: dict[str, Any]
) -> None:
    made = []
    for seed in (1, 2, 3):
        resp = client.post(f"{BASE}/recommendations", json={**REGMIX, "fidelity": SMALL, "seed": seed})
        assert resp.status_code == 200, resp.text
        made.append(resp.json())
    assert all(isinstance(m["id"], int) and m["created_at"] for m in made)
    assert len({m["id"] for m in made}) == 3
    page = client.get(f"{BASE}/recommendations").json()
    assert [r["id"] for r in page["recommendations"]] == [m["id"] for m in reversed(made)]
    assert page["next_page_token"] is None
    newest = page["recommendations"][0]
    assert newest == made[-1]  # stored as answered: weights, predicted, mixer, config, comparison, ...
    first = client.get(f"{BASE}/recommendations", params={"max_results": 2}).json()
    assert [r["id"] for r in first["recommendations"]] == [made[2]["id"], made[1]["id"]]
    rest = client.get(f"{BASE}/recommendations", params={"max_results": 2, "page_token": first["next_page_token"]})
    assert [r["id"] for r in rest.json()["recommendations"]] == [made[0]["id"]]
    assert rest.json()["next_page_token"] is None
    one = client.get(f"{BASE}/recommendations/{made[0]['id']}")
    assert one.status_code == 200 and one.json() == made[0]
    assert_problem(client.get(f"{BASE}/recommendations/999999"), 404, "recommendation_not_found")
    assert_problem(client.get(f"{BASE}/recommendations", params={"page_token": "nope"}), 422, "invalid_page_token")
    assert client.get(f"{BASE}/recommendations/0").status_code == 422
    # a refused request stores nothing
    assert_problem(client.post(f"{BASE}/recommendations", json={"mixer": "nope"}), 422, "unknown_mixer")
    assert len(client.get(f"{BASE}/recommendations").json()["recommendations"]) == 3


def test_evaluations_are_stored_and_listed(client: TestClient, two_fidelities: dict[str, Any]) -> None:
    body = {"mixers": [REGMIX], "folds": 2, "fidelity": SMALL}
    first = client.post(f"{BASE}/evaluations", json=body)
    assert first.status_code == 200, first.text
    second = client.post(f"{BASE}/evaluations", json={**body, "seed": 1})
    assert second.status_code == 200, second.text
    listed = client.get(f"{BASE}/evaluations").json()
    assert [e["id"] for e in listed["evaluations"]] == [second.json()["id"], first.json()["id"]]
    stored = listed["evaluations"][1]
    assert stored == first.json()
    assert stored["results"][0]["mixer"] == "regmix" and stored["results"][0]["n_runs"] == 10
    assert client.get(f"{BASE}/evaluations/{first.json()['id']}").json() == first.json()
    assert_problem(client.get(f"{BASE}/evaluations/{first.json()['id'] + 100}"), 404, "evaluation_not_found")


def test_archive_hides_and_purge_deletes_the_history(client: TestClient, two_fidelities: dict[str, Any]) -> None:
    rec = client.post(f"{BASE}/recommendations", json={**REGMIX, "fidelity": SMALL})
    assert rec.status_code == 200, rec.text
    assert client.delete(BASE).status_code == 204  # archive
    assert_problem(client.get(f"{BASE}/recommendations"), 404, "project_not_found")
    assert client.post(f"{BASE}/restore").status_code == 200
    assert [r["id"] for r in client.get(f"{BASE}/recommendations").json()["recommendations"]] == [rec.json()["id"]]
    assert client.delete(BASE, params={"purge": "true", "confirm": "p1"}).status_code == 204
    assert client.post("/api/v1/projects", json=PROJECT).status_code == 201  # the same name, a new project
    assert client.get(f"{BASE}/recommendations").json() == {"recommendations": [], "next_page_token": None}
    assert client.get(f"{BASE}/evaluations").json()["evaluations"] == []
    assert_problem(client.get(f"{BASE}/recommendations/{rec.json()['id']}"), 404, "recommendation_not_found")


def test_default_mixer_is_a_project_setting(client: TestClient, project: dict[str, Any], store: Store) -> None:
    assert project["default_mixer"] is None
    version = store.get_project("p1").data_version
    patched = client.patch(BASE, json={"default_mixer": "mfbo"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["default_mixer"] == "mfbo"
    assert store.get_project("p1").data_version == version  # no fit reads it: cached fits stay
    assert client.get(BASE).json()["default_mixer"] == "mfbo"
    assert client.patch(BASE, json={"description": "x"}).json()["default_mixer"] == "mfbo"  # untouched
    assert_problem(client.patch(BASE, json={"default_mixer": "nope"}), 422, "unknown_mixer", "default_mixer")
    assert_problem(client.patch(BASE, json={"default_mixer": "aioli"}), 422, "unknown_mixer", "default_mixer")
    assert_problem(client.patch(BASE, json={"default_mixer": 3}), 422, loc="default_mixer")
    assert client.get(BASE).json()["default_mixer"] == "mfbo"  # the refused patches wrote nothing
    listed = client.get("/api/v1/projects").json()["projects"]
    assert [p["default_mixer"] for p in listed] == ["mfbo"]
    assert client.patch(BASE, json={"default_mixer": None}).json()["default_mixer"] is None
    made = client.post("/api/v1/projects", json={**PROJECT, "name": "p2", "default_mixer": "regmix"})
    assert made.status_code == 201 and made.json()["default_mixer"] == "regmix"
    bad = client.post("/api/v1/projects", json={**PROJECT, "name": "p3", "default_mixer": "nope"})
    assert_problem(bad, 422, "unknown_mixer", "default_mixer")
    assert client.get("/api/v1/projects/p3").status_code == 404


def test_summary_has_the_best_run_at_each_fidelity(client: TestClient, two_fidelities: dict[str, Any]) -> None:
    [listed] = client.get("/api/v1/projects").json()["projects"]
    bests = listed["summary"]["best_by_fidelity"]
    small, mid = _best(two_fidelities["small"]), _best(two_fidelities["mid"])
    assert bests == [
        {"fidelity": SMALL, "value": pytest.approx(small["metrics"]["loss"]), "run_id": small["id"], "n_completed": 10},
        {"fidelity": MID, "value": pytest.approx(mid["metrics"]["loss"]), "run_id": mid["id"], "n_completed": 6},
    ]
    # the failed run's 0.1 is no best; best_value stays the best over every fidelity
    assert listed["summary"]["best_value"] == pytest.approx(min(small["metrics"]["loss"], mid["metrics"]["loss"]))


def test_summary_best_follows_a_maximized_objective(client: TestClient) -> None:
    body = {**PROJECT, "name": "up", "objective": {"metric": "acc", "direction": "maximize"}}
    assert client.post("/api/v1/projects", json=body).status_code == 201
    runs = [
        {
            "external_id": f"a{i}",
            "weights": {"web": 0.5, "code": 0.1 * i, "books": 0.5 - 0.1 * i},
            "fidelity": SMALL,
            "metrics": {"acc": 0.1 * i},
        }
        for i in range(4)
    ]
    runs.append(
        {
            "external_id": "big",
            "weights": {"web": 0.5, "code": 0.25, "books": 0.25},
            "fidelity": MID,
            "metrics": {"acc": 0.05},
        }
    )
    resp = client.post("/api/v1/projects/up/runs", json={"runs": runs})
    assert resp.status_code == 201, resp.text
    ids = {r["external_id"]: r["id"] for r in resp.json()["runs"]}
    [listed] = client.get("/api/v1/projects").json()["projects"]
    got = {
        tuple(b["fidelity"].items()): (b["run_id"], b["value"], b["n_completed"])
        for b in listed["summary"]["best_by_fidelity"]
    }
    assert got == {(("tokens", 1e9),): (ids["a3"], pytest.approx(0.3), 4), (("tokens", 4e9),): (ids["big"], 0.05, 1)}


def test_recommendation_is_compared_with_the_best_run_at_its_fidelity(
    client: TestClient, two_fidelities: dict[str, Any]
) -> None:
    small = _best(two_fidelities["small"])
    resp = client.post(f"{BASE}/recommendations", json={**REGMIX, "fidelity": SMALL})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["predicted_fidelity"] == SMALL
    cmp = out["comparison"]
    assert cmp["kind"] == "observed"
    assert cmp["fidelity"] == SMALL and cmp["run_id"] == small["id"]
    assert cmp["value"] == pytest.approx(small["metrics"]["loss"])
    assert cmp["delta"] == pytest.approx(out["predicted"] - small["metrics"]["loss"])
    assert "10 completed runs at tokens=1e9" in cmp["detail"]


def test_recommendation_without_runs_at_its_fidelity_is_compared_with_a_prediction(
    client: TestClient, two_fidelities: dict[str, Any]
) -> None:
    mid = _best(two_fidelities["mid"])  # the largest fidelity with completed runs
    target = PROJECT["target_fidelity"]
    resp = client.post(f"{BASE}/recommendations", json=REGMIX)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["predicted_fidelity"] == target  # no run there
    cmp = out["comparison"]
    assert cmp["kind"] == "predicted" and cmp["fidelity"] == target and cmp["run_id"] == mid["id"]
    pred = client.post(f"{BASE}/predictions", json={**REGMIX, "mixtures": [mid["weights"]]})
    assert pred.status_code == 200, pred.text
    assert cmp["value"] == pytest.approx(pred.json()["predictions"][0]["mean"])
    assert cmp["delta"] == pytest.approx(out["predicted"] - cmp["value"])
    assert cmp["value"] != pytest.approx(mid["metrics"]["loss"], abs=1e-9)  # a prediction, not the observed loss
    assert "no completed run at" in cmp["detail"]


def test_the_client_reads_the_history_and_sets_the_default_mixer(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mixopt import Client

    monkeypatch.delenv("MIXOPT_TOKEN", raising=False)
    mx = Client(http=sqlite_client)
    mx.create_project("p1", PROJECT["domains"], PROJECT["objective"], target_fidelity=PROJECT["target_fidelity"])
    mx.add_runs("p1", _runs(10, SMALL, 1))
    assert mx.update_project("p1", default_mixer="regmix").default_mixer == "regmix"
    assert mx.get_project("p1").default_mixer == "regmix"
    assert mx.update_project("p1", clear_default_mixer=True).default_mixer is None
    rec = mx.recommend("p1", "regmix", FAST_REGMIX, fidelity=SMALL)
    assert rec.id is not None and rec.comparison is not None and rec.comparison["kind"] == "observed"
    later = mx.recommend("p1", "regmix", FAST_REGMIX, fidelity=SMALL, seed=4)
    assert [r.id for r in mx.recommendations("p1")] == [later.id, rec.id]
    assert [r.id for r in mx.recommendations("p1", max_results=1)] == [later.id]
    mx.evaluate("p1", [{"mixer": "regmix", "config": FAST_REGMIX}], folds=2)
    [stored] = mx.evaluations("p1")
    assert stored.results[0].mixer == "regmix" and stored.created_at is not None
