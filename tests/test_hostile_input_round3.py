"""Reliability and security, on SQLite and PostgreSQL: text a database cannot store, duplicate
JSON keys, coerced trajectory steps, unsafe integers, -0.0 weights, oversized trajectories and deleting one run.

Before the fixes: a NUL was stored on SQLite and a 500 on PostgreSQL (and one stored NUL metric name made
``GET /projects`` and ``/mixers`` answer 500); the other inputs were accepted and coerced.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.access import create_token
from mixopt import Client, Forbidden, NotFound
from store.records import NewRun
from store.repository import Store
from tests.conftest import PROJECT, make_client

W = {"web": 0.5, "code": 0.3, "books": 0.2}
NUL = "a\u0000b"


def _post(client: TestClient, method: str, path: str, body: Any) -> Any:
    """Send ``body`` as JSON text exactly (httpx's ``json=`` cannot send lone surrogates or duplicate keys)."""
    content = body if isinstance(body, str) else json.dumps(body)
    return client.request(method, path, content=content, headers={"content-type": "application/json"})


def _problem(r: Any, field: str, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    locs = [e["loc"] for e in body.get("errors", [])]
    assert any(field in loc for loc in locs), (field, locs)
    return dict(body)


def _n_runs(client: TestClient) -> int:
    return len(client.get("/api/v1/projects/p1/runs", params={"max_results": 10_000}).json()["runs"])


def _run(**extra: Any) -> dict[str, Any]:
    return {"weights": W, "metrics": {"loss": 3.0}, **extra}


RUN_CASES = {
    "metric name": (_run(metrics={NUL: 1.0}), "runs[0].metrics"),
    "external_id": (_run(external_id=NUL), "runs[0].external_id"),
    "fidelity key": (_run(fidelity={NUL: 1.0}), "runs[0].fidelity"),
    "tag key": (_run(tags={NUL: 1}), "runs[0].tags"),
    "tag value": (_run(tags={"note": NUL}), "runs[0].tags"),
    "trajectory key": (_run(trajectory=[{"step": 1, NUL: 2.0}]), "runs[0].trajectory[0]"),
    "weights key": (_run(weights={**W, NUL: 0.0}), "runs[0].weights"),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_nul_in_a_run_is_a_422_naming_the_field(client: TestClient, project: dict[str, Any], case: str) -> None:
    run, field = RUN_CASES[case]
    body = _problem(_post(client, "POST", "/api/v1/projects/p1/runs", {"runs": [run]}), field)
    assert body["code"] == "validation_error"
    assert _n_runs(client) == 0
    assert client.get("/api/v1/projects").status_code == 200
    assert client.get("/api/v1/projects/p1/mixers").status_code == 200


def test_nul_elsewhere_is_a_422(client: TestClient, project: dict[str, Any]) -> None:
    bad_project = {**PROJECT, "name": "p2", "description": NUL}
    _problem(_post(client, "POST", "/api/v1/projects", bad_project), "description")
    objective = {**PROJECT, "name": "p3", "objective": {"metrics": {NUL: 1.0}}}
    _problem(_post(client, "POST", "/api/v1/projects", objective), "objective.metrics")
    _problem(_post(client, "PATCH", "/api/v1/projects/p1", {"description": NUL}), "description")
    assert [p["name"] for p in client.get("/api/v1/projects").json()["projects"]] == ["p1"]
    # the URL: a project name, an embedding set name, a query parameter
    _problem(client.get("/api/v1/projects/p%001"), "name")
    _problem(client.put("/api/v1/projects/p1/embeddings/we%00b", json={"vectors": [[1.0]]}), "set_name")
    _problem(client.get("/api/v1/projects/p1/runs", params={"fidelity": "pa\u0000rams=1"}), "fidelity")
    # a mixer config and a session report
    rec = {"mixer": "regmix", "config": {"train_fidelity": {NUL: 1.0}}}
    _problem(_post(client, "POST", "/api/v1/projects/p1/recommendations", rec), "config")
    session = client.post("/api/v1/projects/p1/sessions", json={"mixer": "aioli", "total_steps": 1000}).json()
    report = {"step": 0, "losses": {NUL: 1.0, "web": 1.0, "code": 1.0, "books": 1.0}}
    _problem(_post(client, "POST", f"/api/v1/sessions/{session['id']}/reports", report), "losses")


def test_lone_surrogates_are_a_422(client: TestClient, project: dict[str, Any]) -> None:
    raw = '{"runs": [{"weights": {"web": 0.5, "code": 0.3, "books": 0.2}, "metrics": {"lo\\ud800ss": 1.0}}]}'
    _problem(_post(client, "POST", "/api/v1/projects/p1/runs", raw), "runs[0].metrics")
    config = '{"mixer": "regmix", "config": {"train_fidelity": {"\\udc00": 1.0}}}'
    _problem(_post(client, "POST", "/api/v1/projects/p1/recommendations", config), "config")
    assert _n_runs(client) == 0


def test_a_stored_nul_breaks_no_listing_and_an_admin_deletes_the_run(
    store: Store, client: TestClient, project: dict[str, Any]
) -> None:
    """Rows written before the check (straight through the store here) must not take the lists down."""
    ok = client.post("/api/v1/projects/p1/runs", json={"runs": [_run(metrics={"loss": 2.0})]}).json()["runs"][0]
    poisoned = store.ingest_runs(
        project["id"],
        [
            NewRun(
                external_id=None,
                weights={"web": 0.5, "code": 0.3, "books": 0.2},
                weights_sum=1.0,
                fidelity={},
                fidelity_key="",
                status="completed",
                metrics={"loss": 1.0, NUL: 5.0},
                tags={},
                cost=None,
                trajectory=None,
                content_hash="0" * 64,
                result_hash=None,
            )
        ],
        3600.0,
    )[0]
    listed = client.get("/api/v1/projects")
    assert listed.status_code == 200, listed.text
    summary = listed.json()["projects"][0]["summary"]
    assert summary["runs"] == 2 and summary["best_value"] == 1.0
    # the best per fidelity too (on PostgreSQL: computed in Python, like the rest of this summary)
    assert summary["best_by_fidelity"] == [{"fidelity": {}, "value": 1.0, "run_id": poisoned.id, "n_completed": 2}]
    assert client.get("/api/v1/projects/p1/mixers").status_code == 200
    assert client.get("/api/v1/projects/p1/runs").status_code == 200

    assert client.delete(f"/api/v1/projects/p1/runs/{poisoned.id}").status_code == 204
    missing = client.delete(f"/api/v1/projects/p1/runs/{poisoned.id}")
    assert missing.status_code == 404 and missing.json()["code"] == "run_not_found"
    assert [r["id"] for r in client.get("/api/v1/projects/p1/runs").json()["runs"]] == [ok["id"]]
    assert client.get("/api/v1/projects").json()["projects"][0]["summary"]["best_value"] == 2.0


def test_deleting_a_run_needs_an_admin_token(sqlite_store: Store, tmp_path: Path) -> None:
    with make_client(sqlite_store, tmp_path, auth=True) as http:
        admin = Client(http=http, token=create_token(sqlite_store, "admin"))
        admin.create_project(**{k: v for k, v in PROJECT.items()})
        scoped = Client(http=http, token=create_token(sqlite_store, "team", project="p1"))
        run = scoped.add_run("p1", _run())
        with pytest.raises(Forbidden):
            scoped.delete_run("p1", run.id)
        admin.delete_run("p1", run.id)
        with pytest.raises(NotFound):
            admin.delete_run("p1", run.id)
        admin.delete_run("p1", run.id, missing_ok=True)
        assert list(scoped.list_runs("p1")) == []


# -- item 7: validation gaps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ('{"runs": [{"weights": {"web": 0.5, "code": 0.3, "books": 0.2}, "metrics": {"loss": 1, "loss": 2}}]}',
         "runs[0].metrics.loss"),
        ('{"runs": [], "runs": [{"weights": {"web": 0.5, "code": 0.3, "books": 0.2}}]}', "runs"),
        ('{"runs": [{"weights": {"web": 0.5, "web": 0.5, "code": 0.3, "books": 0.2}}]}', "runs[0].weights.web"),
    ],
)
def test_duplicate_json_keys_are_a_422(client: TestClient, project: dict[str, Any], raw: str, loc: str) -> None:
    body = _problem(_post(client, "POST", "/api/v1/projects/p1/runs", raw), loc)
    assert "duplicate" in body["errors"][0]["msg"]
    assert _n_runs(client) == 0


def test_duplicate_keys_in_other_bodies(client: TestClient, project: dict[str, Any]) -> None:
    _problem(_post(client, "PATCH", "/api/v1/projects/p1", '{"description": "a", "description": "b"}'), "description")
    raw = '{"vectors": [[1.0, 2.0]], "vectors": [[3.0, 4.0]]}'
    _problem(_post(client, "PUT", "/api/v1/projects/p1/embeddings/web", raw), "vectors")
    assert client.get("/api/v1/projects/p1/embeddings").json() == []
    assert client.get("/api/v1/projects/p1").json()["description"] == ""


def test_completed_result_without_metrics_is_a_422(client: TestClient, project: dict[str, Any]) -> None:
    pending = client.post("/api/v1/projects/p1/runs", json={"runs": [{"weights": W}]}).json()["runs"][0]
    _problem(client.post(f"/api/v1/projects/p1/runs/{pending['id']}/result", json={"metrics": {}}), "metrics")
    assert client.get(f"/api/v1/projects/p1/runs/{pending['id']}").json()["status"] == "pending"
    failed = {"metrics": {}, "status": "failed"}  # a failed run may have no metrics
    assert client.post(f"/api/v1/projects/p1/runs/{pending['id']}/result", json=failed).status_code == 200


@pytest.mark.parametrize("step", [False, True, "7", 7.0])
def test_trajectory_step_is_a_strict_integer(client: TestClient, project: dict[str, Any], step: Any) -> None:
    run = _run(trajectory=[{"step": step, "loss": 3.1}])
    _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [run]}), "runs[0].trajectory[0].step")
    assert _n_runs(client) == 0


def test_negative_zero_weights_are_stored_as_zero(client: TestClient, project: dict[str, Any]) -> None:
    run = _run(weights={"web": 0.7, "code": -0.0, "books": 0.3})
    r = client.post("/api/v1/projects/p1/runs", json={"runs": [run]})
    assert r.status_code == 201, r.text
    assert "-0.0" not in r.text
    stored = client.get(f"/api/v1/projects/p1/runs/{r.json()['runs'][0]['id']}").json()["weights"]
    assert math.copysign(1.0, stored["code"]) == 1.0


@pytest.mark.parametrize("value", [2**53, 2**63, 2**64, -(2**63)])
def test_unsafe_integer_tags_are_refused(client: TestClient, project: dict[str, Any], value: int) -> None:
    _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [_run(tags={"n": value})]}), "runs[0].tags.n")
    assert _n_runs(client) == 0
    ok = client.post("/api/v1/projects/p1/runs", json={"runs": [_run(tags={"n": 2**53 - 1, "f": 1.5})]})
    assert ok.status_code == 201 and ok.json()["runs"][0]["tags"] == {"n": 2**53 - 1, "f": 1.5}


# -- item 6: trajectory cap -----------------------------------------------------------------------------


def test_trajectory_points_are_capped(client: TestClient, project: dict[str, Any]) -> None:
    long = [{"step": i, "loss": 1.0} for i in range(10_001)]
    _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [_run(), _run(trajectory=long)]}),
             "runs[1].trajectory")
    assert _n_runs(client) == 0
    assert client.post("/api/v1/projects/p1/runs", json={"runs": [_run(trajectory=long[:10_000])]}).status_code == 201


def test_the_trajectory_cap_is_a_setting(store: Store, tmp_path: Path) -> None:
    with make_client(store, tmp_path, max_trajectory_points=3) as client:
        assert client.post("/api/v1/projects", json=PROJECT).status_code == 201
        four = [{"step": i, "loss": 1.0} for i in range(4)]
        _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [_run(trajectory=four)]}), "runs[0].trajectory")
        pending = client.post("/api/v1/projects/p1/runs", json={"runs": [{"weights": W}]}).json()["runs"][0]
        result = {"metrics": {"loss": 1.0}, "trajectory": four}
        _problem(client.post(f"/api/v1/projects/p1/runs/{pending['id']}/result", json=result), "trajectory")
        result["trajectory"] = four[:3]
        assert client.post(f"/api/v1/projects/p1/runs/{pending['id']}/result", json=result).status_code == 200


# -- item 9: purge collects embeddings --------------------------------------------------------------------


def test_purging_a_project_removes_its_embedding_arrays(
    store: Store, client: TestClient, project: dict[str, Any]
) -> None:
    assert client.put("/api/v1/projects/p1/embeddings/web", json={"vectors": [[1.0, 2.0]]}).status_code == 200
    assert client.put("/api/v1/projects/p1/embeddings/target", json={"vectors": [[3.0, 4.0]]}).status_code == 200
    assert len(store.blob_digests()) == 2
    assert client.delete("/api/v1/projects/p1", params={"purge": "true", "confirm": "p1"}).status_code == 204
    assert store.blob_digests() == set()


def test_concurrent_embedding_puts_over_http_all_succeed(
    store: Store, client: TestClient, project: dict[str, Any]
) -> None:
    """160 concurrent PUTs to one set all succeed on PostgreSQL."""
    import concurrent.futures

    bodies = [{"vectors": [[float(i % 4), 1.0], [2.0, 3.0]]} for i in range(160)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda b: client.put("/api/v1/projects/p1/embeddings/web", json=b).status_code, bodies))
    assert codes == [200] * 160
    listed = client.get("/api/v1/projects/p1/embeddings").json()
    assert [e["name"] for e in listed] == ["web"]
    assert store.blob_digests() == {listed[0]["sha256"]}
