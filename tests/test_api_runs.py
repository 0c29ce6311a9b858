"""The runs and projects API: the HTTP contract, bad input as problems, nothing written on error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.repository import Store
from tests.conftest import PROJECT

RUNS = "/api/v1/projects/p1/runs"


def run(ext: str | None = None, web: float = 0.5, code: float = 0.3, books: float = 0.2, **extra: Any) -> dict:
    body: dict[str, Any] = {
        "weights": {"web": web, "code": code, "books": books},
        "metrics": {"loss": 3.0},
        "fidelity": {"params": 1e6, "tokens": 1e9},
    }
    if ext is not None:
        body["external_id"] = ext
    body.update(extra)
    return body


def assert_problem(resp: Any, status: int, code: str | None = None, loc: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    if code:
        assert body["code"] == code
    if loc:
        assert loc in [e["loc"] for e in body.get("errors", [])], body
    return dict(body)


def test_project_lifecycle(client: TestClient, project: dict) -> None:
    assert project["domains"][1] == {
        "name": "code",
        "tokens": 3e9,
        "min_weight": None,
        "max_weight": 0.8,
        "max_epochs": None,
    }
    assert project["objective"]["direction"] == "minimize"
    assert_problem(client.post("/api/v1/projects", json=PROJECT), 409, "project_exists")
    listed = client.get("/api/v1/projects").json()
    assert [p["name"] for p in listed["projects"]] == ["p1"] and listed["next_page_token"] is None
    patched = client.patch("/api/v1/projects/p1", json={"description": "hello", "target_fidelity": {"tokens": 5e9}})
    assert patched.status_code == 200 and patched.json()["description"] == "hello"
    assert client.get("/api/v1/projects/p1").json()["target_fidelity"] == {"tokens": 5e9}
    assert client.delete("/api/v1/projects/p1").status_code == 204
    assert_problem(client.get("/api/v1/projects/p1"), 404, "project_not_found")


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"name": "bad name!"}, "name"),
        ({"domains": []}, "domains"),
        ({"domains": [{"name": "a"}, {"name": "a"}]}, "domains[1].name"),
        ({"domains": [{"name": "a", "min_weight": 0.7}, {"name": "b", "min_weight": 0.6}]}, "domains"),
        ({"domains": [{"name": "a", "tokens": -1}]}, "domains[0].tokens"),
        ({"objective": {"direction": "minimize"}}, "objective"),
        ({"target_fidelity": {"tokens": 0}}, "target_fidelity.tokens"),
    ],
)
def test_bad_projects_are_rejected(client: TestClient, change: dict, loc: str) -> None:
    assert_problem(client.post("/api/v1/projects", json={**PROJECT, **change}), 422, loc=loc)
    assert client.get("/api/v1/projects").json()["projects"] == []


def test_bulk_ingest_renormalizes_and_is_idempotent(client: TestClient, project: dict, store: Store) -> None:
    r = client.post(RUNS, json={"runs": [run("a", 0.5, 0.3, 0.205), run("b", 0.2, 0.3, 0.5)]})
    assert r.status_code == 201, r.text
    a = r.json()["runs"][0]
    assert a["weights_sum"] == pytest.approx(1.005)
    assert sum(a["weights"].values()) == pytest.approx(1.0)
    assert a["weights"]["web"] == pytest.approx(0.5 / 1.005)
    assert a["status"] == "completed" and a["lease_expires_at"] is None
    again = client.post(RUNS, json={"runs": [run("a", 0.5, 0.3, 0.205)]})
    assert again.status_code == 201 and again.json()["runs"][0]["id"] == a["id"]
    assert store.count_runs() == 2
    conflict = client.post(RUNS, json={"runs": [run("c"), run("a", 0.6, 0.2, 0.2)]})
    assert_problem(conflict, 409, "external_id_conflict", "runs[1].external_id")
    assert store.count_runs() == 2


def _raw(client: TestClient, text: str) -> Any:
    return client.post(RUNS, content=text, headers={"content-type": "application/json"})


BAD_BATCHES = [
    ('{"runs": [{"weights": {"web": NaN, "code": 0.5, "books": 0.5}, "metrics": {"loss": 1}}]}', "runs[0].weights.web"),
    (
        '{"runs": [{"weights": {"web": 0.5, "code": 0.5, "books": 0}, "metrics": {"loss": Infinity}}]}',
        "runs[0].metrics.loss",
    ),
    (json.dumps({"runs": [run(), run(web=-0.1, code=0.9, books=0.2)]}), "runs[1].weights.web"),
    (json.dumps({"runs": [run(web=0.3, code=0.2, books=0.2)]}), "runs[0].weights"),
    (
        json.dumps(
            {"runs": [{"weights": {"web": 0.5, "code": 0.3, "books": 0.1, "math": 0.1}, "metrics": {"loss": 1}}]}
        ),
        "runs[0].weights.math",
    ),
    (json.dumps({"runs": [run("dup"), run("dup")]}), "runs[1].external_id"),
    (json.dumps({"runs": [run(fidelity={"tokens": -5})]}), "runs[0].fidelity.tokens"),
    (json.dumps({"runs": [run(metrics="oops")]}), "runs[0].metrics"),
    (json.dumps({"runs": [run(weights=[0.5, 0.5])]}), "runs[0].weights"),
    (json.dumps({"runs": []}), "runs"),
    (json.dumps({"runs": [run(status="finished")]}), "runs[0].status"),
    (json.dumps({"runs": [run(metrics={}, status="completed")]}), "runs[0].metrics"),
    (json.dumps({"runs": [run(unexpected=1)]}), "runs[0].unexpected"),
    ("{not json", None),
]


@pytest.mark.parametrize(("text", "loc"), BAD_BATCHES)
def test_bad_batches_write_nothing(client: TestClient, project: dict, store: Store, text: str, loc: str | None) -> None:
    client.post(RUNS, json={"runs": [run("keep")]})
    resp = _raw(client, text)
    assert_problem(resp, 422, loc=loc)
    assert store.count_runs() == 1


def test_body_over_the_limit_is_413(store: Store, tmp_path: Any) -> None:
    from tests.conftest import make_client

    with make_client(store, tmp_path, max_body_bytes=2000) as small:
        small.post("/api/v1/projects", json=PROJECT)
        resp = small.post(RUNS, json={"runs": [run(f"r{i}") for i in range(50)]})
        assert_problem(resp, 413, "body_too_large")
        # Streamed without a Content-Length, too.
        resp = small.post(
            RUNS, content=iter([b'{"runs": [' + b" " * 3000 + b"]}"]), headers={"content-type": "application/json"}
        )
        assert_problem(resp, 413, "body_too_large")
    assert store.count_runs() == 0


def test_list_filter_and_paging(client: TestClient, project: dict) -> None:
    batch = [run(f"r{i}", 0.5, 0.3 - i / 100, 0.2 + i / 100) for i in range(7)]
    batch += [run("big", fidelity={"params": 1e7, "tokens": 1e9}), run("p", metrics={}, status="pending")]
    assert client.post(RUNS, json={"runs": batch}).status_code == 201
    seen, token = [], None
    while True:
        params: dict[str, Any] = {"max_results": 3, "status": "completed"}
        if token:
            params["page_token"] = token
        page = client.get(RUNS, params=params).json()
        seen += [r["external_id"] for r in page["runs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [f"r{i}" for i in range(7)] + ["big"]
    small = client.get(RUNS, params={"fidelity": "params=1e6,tokens=1e9"}).json()["runs"]
    assert len(small) == 8 and "big" not in [r["external_id"] for r in small]
    assert [r["external_id"] for r in client.get(RUNS, params={"status": "pending"}).json()["runs"]] == ["p"]
    assert_problem(client.get(RUNS, params={"page_token": "%%%"}), 422, "invalid_page_token")
    assert_problem(client.get(RUNS, params={"status": "nope"}), 422, loc="status")
    assert_problem(client.get(RUNS, params={"fidelity": "tokens"}), 422, "invalid_fidelity_filter")


def test_pending_run_heartbeat_and_result_exactly_once(client: TestClient, project: dict) -> None:
    [pending] = client.post(RUNS, json={"runs": [run("p", metrics={})]}).json()["runs"]
    assert pending["status"] == "pending" and pending["lease_expires_at"]
    beat = client.post(f"{RUNS}/{pending['id']}/heartbeat")
    assert beat.status_code == 200 and beat.json()["status"] == "running"
    res = client.post(
        f"{RUNS}/{pending['id']}/result", json={"metrics": {"loss": 2.5}, "trajectory": [{"step": 10, "loss": 3.0}]}
    )
    assert res.status_code == 200 and res.json()["status"] == "completed"
    assert res.json()["trajectory"] == [{"step": 10, "loss": 3.0}]
    replay = client.post(
        f"{RUNS}/{pending['id']}/result", json={"metrics": {"loss": 2.5}, "trajectory": [{"step": 10, "loss": 3.0}]}
    )
    assert replay.status_code == 200
    assert_problem(
        client.post(f"{RUNS}/{pending['id']}/result", json={"metrics": {"loss": 9.0}}), 409, "result_conflict"
    )
    assert client.get(f"{RUNS}/{pending['id']}").json()["metrics"] == {"loss": 2.5}
    assert_problem(client.post(f"{RUNS}/{pending['id']}/heartbeat"), 409, "run_not_open")
    assert_problem(client.get(f"{RUNS}/999999"), 404, "run_not_found")
    assert_problem(
        client.post(f"{RUNS}/{pending['id']}/result", json={"metrics": {"loss": "x"}}), 422, loc="metrics.loss"
    )


def test_result_may_carry_the_runs_cost(client: TestClient, project: dict) -> None:
    a, b = client.post(RUNS, json={"runs": [run("p", metrics={}), run("q", 0.2, 0.3, 0.5, metrics={})]}).json()["runs"]
    assert a["cost"] is None
    for bad in (-1.0, "x"):
        assert_problem(client.post(f"{RUNS}/{a['id']}/result", json={"metrics": {"loss": 1.0}, "cost": bad}), 422,
                       loc="cost")
    assert client.get(f"{RUNS}/{a['id']}").json()["status"] == "pending"  # a rejected result writes nothing
    done = client.post(f"{RUNS}/{a['id']}/result", json={"metrics": {"loss": 1.0}, "cost": 3.5e12})
    assert done.status_code == 200 and done.json()["cost"] == 3.5e12
    assert client.post(f"{RUNS}/{a['id']}/result", json={"metrics": {"loss": 1.0}, "cost": 3.5e12}).status_code == 200
    assert_problem(
        client.post(f"{RUNS}/{a['id']}/result", json={"metrics": {"loss": 1.0}, "cost": 1.0}), 409, "result_conflict"
    )
    # without a cost, the run keeps the one it was created with (none here)
    assert client.post(f"{RUNS}/{b['id']}/result", json={"metrics": {"loss": 2.0}}).json()["cost"] is None


def test_a_completed_run_with_cost_replays_its_result_as_a_no_op(client: TestClient, project: dict) -> None:
    """Ingest and /result share one result identity: the same metrics and cost again change nothing."""
    (done,) = client.post(RUNS, json={"runs": [run("c", cost=7.0)]}).json()["runs"]
    same = client.post(f"{RUNS}/{done['id']}/result", json={"metrics": done["metrics"], "cost": 7.0})
    assert same.status_code == 200 and same.json()["updated_at"] == done["updated_at"]
    other = client.post(f"{RUNS}/{done['id']}/result", json={"metrics": done["metrics"], "cost": 8.0})
    assert_problem(other, 409, "result_conflict")


def test_export_round_trips(client: TestClient, project: dict) -> None:
    batch = [
        run("a", 0.5, 0.3, 0.205, cost=12.5, tags={"team": "x", "n": 3}),
        run("b", trajectory=[{"step": 1, "loss": 4.0}]),
        run("c", metrics={}),
    ]
    stored = client.post(RUNS, json={"runs": batch}).json()["runs"]
    lines = client.get("/api/v1/projects/p1/export", params={"format": "jsonl"}).text.strip().split("\n")
    settings, *exported = [json.loads(line) for line in lines]
    assert settings["project"]["name"] == "p1" and settings["project"]["domains"] == project["domains"]
    for s, e in zip(stored, exported, strict=True):
        for key in (
            "external_id",
            "weights",
            "weights_sum",
            "fidelity",
            "cost",
            "status",
            "metrics",
            "tags",
            "trajectory",
        ):
            assert s[key] == e[key], key
    csv_text = client.get("/api/v1/projects/p1/export", params={"format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("id,external_id,status,cost")
    assert len(csv_text.strip().splitlines()) == 4


def test_health_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["schema_revision"]
    assert client.get("/version").json()["mixopt"]
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/api/v1/projects/{name}/runs"]

def test_metrics_count_requests_by_route_and_responses_carry_security_headers(client: TestClient) -> None:
    def count(text: str, line: str) -> float:
        return next((float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(line + " ")), 0.0)

    route = 'route="/api/v1/projects/{name}"'
    before = client.get("/metrics").text
    for name in ("nope-1", "nope-2"):  # two URLs, one route label
        missing = client.get(f"/api/v1/projects/{name}")
        assert missing.status_code == 404
    ok = client.get("/healthz")
    for resp in (missing, ok):
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY" and resp.headers["referrer-policy"] == "no-referrer"
    after = client.get("/metrics").text
    requests = f'mixopt_http_requests_total{{method="GET",{route},status="404"}}'
    errors = f'mixopt_http_errors_total{{{route},status="404"}}'
    assert count(after, requests) - count(before, requests) == 2
    assert count(after, errors) - count(before, errors) == 2
    assert f'mixopt_http_request_seconds_count{{{route}}}' in after

