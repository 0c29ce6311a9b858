"""Hostile input gets a 4xx problem naming the field and writes nothing, on SQLite and PostgreSQL.

Each case here was a 500 (RecursionError, OverflowError, orjson's int64 limit, a 32-bit column) or was accepted
without bound (a 50 MB tag value) before.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.schemas import MAX_TAG_VALUE

W = {"web": 0.5, "code": 0.3, "books": 0.2}


def _problem(r: Any, status: int, field: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    locs = [e["loc"] for e in body.get("errors", [])]
    assert any(field in loc for loc in locs), (field, locs)
    return dict(body)


def _token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _n_runs(client: TestClient) -> int:
    return len(client.get("/api/v1/projects/p1/runs", params={"max_results": 10_000}).json()["runs"])


def test_deeply_nested_embeddings_json_is_a_422(client: TestClient, project: dict[str, Any]) -> None:
    deep = "[" * 1000 + "]" * 1000
    r = client.put(
        "/api/v1/projects/p1/embeddings/web",
        content='{"vectors": ' + deep + "}",
        headers={"content-type": "application/json"},
    )
    _problem(r, 422, "body")  # pydantic's JSON parser stops at its depth limit
    assert client.get("/api/v1/projects/p1/embeddings").json() == []


@pytest.mark.parametrize("last_id", [2**31, 2**63, 2**64, -1])
def test_page_token_past_int64_is_a_422(client: TestClient, project: dict[str, Any], last_id: int) -> None:
    for path in ("/api/v1/projects", "/api/v1/projects/p1/runs"):
        _problem(client.get(path, params={"page_token": _token(last_id)}), 422, "page_token")
    # the largest id a token can name is still fine (an empty page)
    assert client.get("/api/v1/projects", params={"page_token": _token(2**31 - 1)}).json()["projects"] == []


def test_ids_past_the_id_columns_are_a_422(client: TestClient, project: dict[str, Any]) -> None:
    _problem(client.get(f"/api/v1/projects/p1/runs/{2**40}"), 422, "run_id")
    _problem(client.get(f"/api/v1/sessions/{2**40}"), 422, "session_id")
    assert client.get(f"/api/v1/projects/p1/runs/{2**31 - 1}").status_code == 404


def test_session_report_step_past_the_column_is_a_422(client: TestClient, project: dict[str, Any]) -> None:
    session = client.post("/api/v1/projects/p1/sessions", json={"mixer": "aioli", "total_steps": 1000}).json()
    losses = {"web": 3.0, "code": 2.5, "books": 3.5}
    for step in (2**63, 2**31):
        _problem(
            client.post(f"/api/v1/sessions/{session['id']}/reports", json={"step": step, "losses": losses}), 422, "step"
        )
    detail = client.get(f"/api/v1/sessions/{session['id']}").json()
    assert [e["step"] for e in detail["history"]] == [-1]  # nothing written


def test_trajectory_step_past_int64_is_a_422(client: TestClient, project: dict[str, Any]) -> None:
    run = {"weights": W, "metrics": {"loss": 3.0}, "trajectory": [{"step": 2**64, "loss": 3.1}]}
    _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [run]}), 422, "runs[0].trajectory[0].step")
    huge_metric = {**run, "trajectory": [{"step": 1, "loss": 2**64}]}
    _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [huge_metric]}), 422, "runs[0].trajectory[0]")
    assert _n_runs(client) == 0
    pending = client.post("/api/v1/projects/p1/runs", json={"runs": [{"weights": W}]}).json()["runs"][0]
    result = {"metrics": {"loss": 3.0}, "trajectory": [{"step": 2**64, "loss": 3.1}]}
    _problem(client.post(f"/api/v1/projects/p1/runs/{pending['id']}/result", json=result), 422, "trajectory[0].step")
    assert client.get(f"/api/v1/projects/p1/runs/{pending['id']}").json()["status"] == "pending"


def test_json_safe_integer_extremes_are_stored_exactly(client: TestClient, project: dict[str, Any]) -> None:
    run = {
        "external_id": "big",
        "weights": W,
        "metrics": {"loss": 3.0},
        "trajectory": [{"step": 2**53 - 1, "loss": 3.0}],
        "tags": {"n": 2**53 - 1, "m": -(2**53 - 1)},
    }
    stored = client.post("/api/v1/projects/p1/runs", json={"runs": [run]}).json()["runs"][0]
    assert stored["trajectory"][0]["step"] == 2**53 - 1
    assert stored["tags"] == {"n": 2**53 - 1, "m": -(2**53 - 1)}


def test_seeds_up_to_the_documented_bound_are_stored(client: TestClient, project: dict[str, Any]) -> None:
    """``seed`` is documented up to 2**32-1; the proposals and sessions columns were 32-bit signed on PostgreSQL."""
    client.post(
        "/api/v1/projects/p1/runs",
        json={
            "runs": [
                {"weights": {"web": w, "code": 0.9 - w, "books": 0.1}, "metrics": {"loss": 3 + w}}
                for w in (0.1, 0.3, 0.5, 0.7)
            ]
        },
    )
    r = client.post(
        "/api/v1/projects/p1/proposals",
        json={"mixer": "regmix", "n": 1, "seed": 2**32 - 1, "config": {"n_candidates": 1000}},
    )
    assert r.status_code == 201, r.text
    assert r.json()["seed"] == 2**32 - 1
    s = client.post("/api/v1/projects/p1/sessions", json={"mixer": "aioli", "total_steps": 100, "seed": 2**32 - 1})
    assert s.status_code == 201, s.text


def test_a_huge_tag_value_is_refused(client: TestClient, project: dict[str, Any]) -> None:
    run = {"weights": W, "metrics": {"loss": 3.0}, "tags": {"note": "x" * (MAX_TAG_VALUE + 1)}}
    _problem(client.post("/api/v1/projects/p1/runs", json={"runs": [run]}), 422, "runs[0].tags.note")
    assert _n_runs(client) == 0
    ok = {**run, "tags": {"note": "x" * MAX_TAG_VALUE}}
    assert client.post("/api/v1/projects/p1/runs", json={"runs": [ok]}).status_code == 201


def test_the_caps_are_in_the_openapi_document(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    tags = schemas["RunIn"]["properties"]["tags"]
    assert tags["maxProperties"] == 100
    assert {"maxLength": MAX_TAG_VALUE, "type": "string"}.items() <= tags["additionalProperties"]["anyOf"][0].items()
    assert schemas["ReportIn"]["properties"]["step"]["maximum"] == 2**31 - 1
    assert schemas["TrajectoryPoint"]["properties"]["step"]["maximum"] == 2**53 - 1
    assert schemas["RunIn"]["properties"]["weights"]["maxProperties"] == 1000
    assert schemas["ReportIn"]["properties"]["losses"]["maxProperties"] == 1000


def test_mistyped_values_are_refused_not_coerced(client: TestClient, project: dict[str, Any]) -> None:
    r = client.patch("/api/v1/projects/p1", json={"allow_missing_domains": 0})
    _problem(r, 422, "allow_missing_domains")
    r = client.post("/api/v1/projects/p1/runs", json={"runs": [{"weights": W, "metrics": {"loss": "3.0"}}]})
    _problem(r, 422, "runs[0].metrics.loss")
