"""Online sessions over the API: directives, idempotent reports, bad reports leave the session unchanged."""

from __future__ import annotations

import numpy as np
import pytest
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


# -- the hand-off: start from an offline recommendation; a held-out target objective -----------------

TARGET_PROJECT = {
    "name": "handoff",
    "domains": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
    "objective": {"metric": "val/kernel_docs"},  # a held-out target, not a training domain
}
HANDOFF = "/api/v1/projects/handoff"
REGMIX = {"mixer": "regmix", "config": {"model": "linear", "n_candidates": 2000, "top_k": 8}}


def target_loss(w: list[float]) -> float:
    """The target improves most with b."""
    return 3.0 - 0.2 * w[0] - 1.5 * w[1] - 0.3 * w[2]


def proxy_runs(n: int = 12) -> list[dict[str, object]]:
    rng = np.random.default_rng(0)
    runs: list[dict[str, object]] = []
    for i in range(n):
        w = rng.dirichlet(np.ones(3)).tolist()
        runs.append(
            {
                "external_id": f"r{i}",
                "weights": dict(zip("abc", w, strict=True)),
                "metrics": {"val/kernel_docs": target_loss(w)},
            }
        )
    return runs


def test_session_starts_from_an_offline_recommendation(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json=TARGET_PROJECT).status_code == 201
    base = {"mixer": "aioli", "config": CONFIG, "total_steps": 60}
    # no runs yet: the recommendation fails, named under from_recommendation, and nothing is written
    assert_problem(
        client.post(f"{HANDOFF}/sessions", json={**base, "from_recommendation": REGMIX}),
        422,
        "mixer_cannot_answer",
        "from_recommendation",
    )
    assert_problem(
        client.post(f"{HANDOFF}/sessions", json={**base, "from_recommendation": {"mixer": "aioli"}}),
        422,
        "wrong_mixer_kind",
        "from_recommendation.mixer",
    )
    assert_problem(
        client.post(f"{HANDOFF}/sessions", json={**base, "from_recommendation": {"mixer": "nope"}}),
        422,
        "unknown_mixer",
        "from_recommendation.mixer",
    )
    both = {**base, "initial_weights": {"a": 0.5, "b": 0.5, "c": 0.0}, "from_recommendation": REGMIX}
    assert_problem(client.post(f"{HANDOFF}/sessions", json=both), 422, "conflicting_start", "from_recommendation")
    assert client.get(f"{HANDOFF}/sessions").json()["sessions"] == []

    assert client.post(f"{HANDOFF}/runs", json={"runs": proxy_runs()}).status_code == 201
    rec = client.post(f"{HANDOFF}/recommendations", json=REGMIX).json()
    assert max(rec["weights"], key=rec["weights"].get) == "b"
    started = client.post(f"{HANDOFF}/sessions", json={**base, "from_recommendation": REGMIX})
    assert started.status_code == 201, started.text
    session = started.json()
    start = session["start"]
    assert start["source"] == "recommendation" and start["weights"] == session["directive"]["weights"]
    for name in "abc":
        assert start["weights"][name] == pytest.approx(rec["weights"][name])
    assert start["recommendation"]["mixer"] == "regmix" and start["recommendation"]["config"] == rec["config"]
    assert start["recommendation"]["predicted"] == pytest.approx(rec["predicted"])
    assert start["recommendation"]["predicted_fidelity"] == rec["predicted_fidelity"]
    assert client.get(f"/api/v1/sessions/{session['id']}").json()["start"] == start  # persisted

    uniform = client.post(f"{HANDOFF}/sessions", json=base).json()["start"]
    assert uniform["source"] == "uniform" and uniform["recommendation"] is None
    assert uniform["weights"] == pytest.approx({n: 1 / 3 for n in "abc"})
    given = client.post(f"{HANDOFF}/sessions", json={**base, "initial_weights": {"a": 0.2, "b": 0.3, "c": 0.5}})
    assert given.json()["start"] == {
        "source": "initial_weights",
        "weights": pytest.approx({"a": 0.2, "b": 0.3, "c": 0.5}),
        "recommendation": None,
    }
    listed = client.get(f"{HANDOFF}/sessions").json()["sessions"]
    assert [s["start"]["source"] for s in listed] == ["recommendation", "uniform", "initial_weights"]


def test_reports_carry_the_objectives_target_metric(client: TestClient) -> None:
    """The target's loss falls most when b is trained; the domain losses favour c: Aioli follows the target."""
    assert client.post("/api/v1/projects", json=TARGET_PROJECT).status_code == 201
    sid = client.post(
        f"{HANDOFF}/sessions", json={"mixer": "aioli", "config": CONFIG, "total_steps": 60, "seed": 0}
    ).json()["id"]
    exposure = np.zeros(3)
    domain_gain = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    target_gain = np.array([0.2, 1.5, 0.3])

    def losses() -> dict[str, float]:
        out = dict(zip("abc", (10.0 - 0.01 * domain_gain @ exposure).tolist(), strict=True))
        return {**out, "val/kernel_docs": 10.0 - 0.01 * float(target_gain @ exposure)}

    bad = {"step": 0, "losses": {**losses(), "val/other": 1.0}}
    assert_problem(client.post(f"/api/v1/sessions/{sid}/reports", json=bad), 422, "invalid_report", "losses.val/other")
    directive, step = client.get(f"/api/v1/sessions/{sid}").json()["directive"], 0
    while not directive["done"]:
        exposure += (directive["until_step"] - step) * np.array([directive["weights"][n] for n in "abc"])
        step = directive["until_step"]
        resp = client.post(f"/api/v1/sessions/{sid}/reports", json={"step": step, "losses": losses()})
        assert resp.status_code == 200, resp.text
        directive = resp.json()["directive"]
    detail = client.get(f"/api/v1/sessions/{sid}").json()
    assert detail["summary"]["rows"] == "objective" and detail["summary"]["targets"] == ["val/kernel_docs"]
    assert max(directive["weights"], key=directive["weights"].get) == "b"
    assert "val/kernel_docs" in detail["history"][1]["losses"]
