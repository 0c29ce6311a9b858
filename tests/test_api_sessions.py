"""Online sessions over the API: directives, idempotent reports, bad reports leave the session unchanged."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.test_api_runs import assert_problem

PROJECT = {
    "name": "online",
    "domains": [{"name": "a"}, {"name": "b"}],
    "objective": {"metric": "loss"},
}
CONFIG = {"lp_rounds": 1, "lp_steps": 2, "round_steps": 20, "ema": None, "eta": 1.0}


def losses_at(step: int, weights: dict[str, float]) -> dict[str, float]:
    """Domain a is easy to improve by training on b as well; everything decreases with steps."""
    return {"a": 5.0 - 0.01 * step, "b": 6.0 - 0.02 * step * weights["b"]}


def test_session_runs_to_done(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json=PROJECT).status_code == 201
    started = client.post(
        "/api/v1/projects/online/sessions", json={"mixer": "aioli", "config": CONFIG, "total_steps": 60, "seed": 3}
    )
    assert started.status_code == 201, started.text
    session = started.json()
    sid, directive = session["id"], session["directive"]
    assert directive["until_step"] == 0 and not directive["done"]
    steps = []
    while not directive["done"]:
        step = directive["until_step"]
        steps.append(step)
        body = {"step": step, "losses": losses_at(step, directive["weights"])}
        resp = client.post(f"/api/v1/sessions/{sid}/reports", json=body)
        assert resp.status_code == 200, resp.text
        replay = client.post(f"/api/v1/sessions/{sid}/reports", json=body)
        assert replay.json() == resp.json()  # idempotent: same directive, applied once
        directive = resp.json()["directive"]
        assert abs(sum(directive["weights"].values()) - 1) < 1e-9
    assert steps[0] == 0 and steps[-1] == 60 and steps == sorted(steps)
    detail = client.get(f"/api/v1/sessions/{sid}").json()
    assert detail["status"] == "done"
    assert [e["step"] for e in detail["history"]] == [-1, *steps]
    assert detail["history"][1]["losses"] == losses_at(0, session["directive"]["weights"])
    listed = client.get("/api/v1/projects/online/sessions").json()["sessions"]
    assert [s["id"] for s in listed] == [sid]
    assert_problem(
        client.post(f"/api/v1/sessions/{sid}/reports", json={"step": 61, "losses": {"a": 1, "b": 1}}),
        409,
        "session_done",
    )


def test_bad_reports_leave_the_session_unchanged(client: TestClient) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    sid = client.post(
        "/api/v1/projects/online/sessions", json={"mixer": "aioli", "config": CONFIG, "total_steps": 60}
    ).json()["id"]
    before = client.get(f"/api/v1/sessions/{sid}").json()
    bad = [
        ({"step": 5, "losses": {"a": 1.0, "b": 1.0}}, 422, "step"),
        ({"step": 0, "losses": {"a": 1.0}}, 422, "losses"),
        ({"step": 0, "losses": {"a": 1.0, "b": 1.0, "c": 2.0}}, 422, "losses.c"),
        ({"step": 0, "losses": {"a": "x", "b": 1.0}}, 422, "losses.a"),
    ]
    for body, status, loc in bad:
        assert_problem(client.post(f"/api/v1/sessions/{sid}/reports", json=body), status, loc=loc)
    nan = client.post(
        f"/api/v1/sessions/{sid}/reports",
        content='{"step": 0, "losses": {"a": NaN, "b": 1}}',
        headers={"content-type": "application/json"},
    )
    assert_problem(nan, 422, loc="losses.a")
    assert client.get(f"/api/v1/sessions/{sid}").json() == before
    assert_problem(client.get("/api/v1/sessions/99999"), 404, "session_not_found")


def test_session_start_errors(client: TestClient) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    url = "/api/v1/projects/online/sessions"
    assert_problem(client.post(url, json={"mixer": "nope", "total_steps": 10}), 422, "unknown_mixer", "mixer")
    assert_problem(
        client.post(url, json={"mixer": "aioli", "config": {"eta": -1}, "total_steps": 10}),
        422,
        "invalid_mixer_config",
        "config.eta",
    )
    assert_problem(client.post(url, json={"mixer": "aioli"}), 422, "total_steps_missing", "total_steps")
    assert_problem(
        client.post(url, json={"mixer": "aioli", "total_steps": 10, "initial_weights": {"a": 0.2, "b": 0.2}}),
        422,
        loc="initial_weights",
    )
