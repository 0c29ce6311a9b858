"""What the dashboard asks of the API beyond the core contract: the project list's run summaries (one
aggregate query), which mixers can answer on a project and why not, and the phase of session directives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from store.repository import Store

LOSS = "metric/pile_cc loss"  # a name with a slash and a space: JSON paths must quote it


def _project(
    client: TestClient, name: str, objective: dict[str, Any], domains: tuple[str, ...] = ("a", "b", "c")
) -> None:
    body = {"name": name, "domains": [{"name": d} for d in domains], "objective": objective}
    assert client.post("/api/v1/projects", json=body).status_code == 201


def _summary(client: TestClient, name: str) -> dict[str, Any]:
    projects = client.get("/api/v1/projects").json()["projects"]
    return next(p["summary"] for p in projects if p["name"] == name)


def test_project_list_summarizes_runs(client: TestClient) -> None:
    _project(client, "lossy", {"metrics": {LOSS: 1.0, "aux": 0.5}, "direction": "minimize"})
    _project(client, "scored", {"metric": "acc", "direction": "maximize"})
    _project(client, "empty", {"metric": "loss", "direction": "minimize"})
    w = {"a": 0.2, "b": 0.3, "c": 0.5}
    lossy = [{"weights": w, "metrics": {LOSS: 3.0 - 0.1 * i, "aux": 1.0}} for i in range(5)]
    lossy += [
        {"weights": w, "metrics": {LOSS: 0.5}},  # lacks "aux": no objective value, not the best
        {"weights": w, "status": "pending"},
        {"weights": w, "status": "failed", "metrics": {LOSS: 0.1, "aux": 0.0}},  # not completed: not the best
    ]
    assert client.post("/api/v1/projects/lossy/runs", json={"runs": lossy}).status_code == 201
    scored = [{"weights": w, "metrics": {"acc": a}} for a in (0.3, 0.7, 0.5)]
    assert client.post("/api/v1/projects/scored/runs", json={"runs": scored}).status_code == 201

    s = _summary(client, "lossy")
    assert (s["runs"], s["completed"], s["open"]) == (8, 6, 1)
    assert s["best_value"] == pytest.approx(2.6 + 0.5)  # min of loss + 0.5 * aux over complete objectives
    run_times = [r["updated_at"] for r in client.get("/api/v1/projects/lossy/runs").json()["runs"]]
    assert s["last_activity"] == max(run_times)
    assert _summary(client, "scored")["best_value"] == pytest.approx(0.7)  # maximize: the largest
    assert _summary(client, "empty") == {
        "runs": 0,
        "completed": 0,
        "open": 0,
        "best_value": None,
        "last_activity": None,
        "best_by_fidelity": [],
    }
    assert client.get("/api/v1/projects/lossy").json().get("summary") is None  # the list's addition only


def test_project_summaries_take_one_query_for_a_page(store: Store, client: TestClient) -> None:
    for i in range(4):
        _project(client, f"p{i}", {"metric": "loss", "direction": "minimize"})
        runs = [{"weights": {"a": 1.0, "b": 0.0, "c": 0.0}, "metrics": {"loss": float(k + i)}} for k in range(50)]
        assert client.post(f"/api/v1/projects/p{i}/runs", json={"runs": runs}).status_code == 201
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "runs" in statement.lower():
            statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        projects = client.get("/api/v1/projects").json()["projects"]
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert [p["summary"]["best_value"] for p in projects] == [0.0, 1.0, 2.0, 3.0]
    assert [p["summary"]["best_by_fidelity"][0]["value"] for p in projects] == [0.0, 1.0, 2.0, 3.0]
    # a fixed number of queries for the page (the counts, the best per fidelity), never one per project
    assert len(statements) == 2, statements


def test_mixer_availability_says_why_not(client: TestClient) -> None:
    _project(client, "avail", {"metric": "loss", "direction": "minimize"})
    catalog = {m["name"]: m["kind"] for m in client.get("/api/v1/mixers").json()}

    def by_name() -> dict[str, dict[str, Any]]:
        resp = client.get("/api/v1/projects/avail/mixers")
        assert resp.status_code == 200, resp.text
        return {m["name"]: m for m in resp.json()}

    before = by_name()
    assert set(before) == set(catalog) and all(before[n]["kind"] == k for n, k in catalog.items())
    assert not any(m["available"] for m in before.values())  # no completed run: nothing can be fitted
    if "aioli" in before:
        assert "online" in before["aioli"]["reason"]
    runs = [{"weights": {"a": x, "b": 1 - x, "c": 0.0}, "metrics": {"loss": 1 + x}} for x in np.linspace(0, 1, 6)]
    assert client.post("/api/v1/projects/avail/runs", json={"runs": runs}).status_code == 201
    after = by_name()
    for name, kind in catalog.items():
        if kind == "online":
            assert not after[name]["available"]
    if "regmix" in after:
        assert after["regmix"] == {"name": "regmix", "kind": "offline", "available": True, "reason": None}
    if "ot" in after:
        assert not after["ot"]["available"] and "embedding" in after["ot"]["reason"]
        assert "a, b, c, target" in after["ot"]["reason"]
        for name in ("a", "b", "c", "target"):
            put = client.put(f"/api/v1/projects/avail/embeddings/{name}", json={"vectors": [[1.0, 0.0], [0.0, 1.0]]})
            assert put.status_code in (200, 201), put.text
        assert by_name()["ot"]["available"]
    missing = client.get("/api/v1/projects/nope/mixers")
    assert missing.status_code == 404


def test_session_directives_name_their_phase(client: TestClient) -> None:
    _project(client, "phases", {"metric": "loss", "direction": "minimize"}, ("a", "b"))
    config = {"lp_rounds": 1, "lp_steps": 2, "round_steps": 20, "ema": None, "eta": 1.0}
    started = client.post(
        "/api/v1/projects/phases/sessions", json={"mixer": "aioli", "config": config, "total_steps": 40}
    )
    assert started.status_code == 201, started.text
    sid, directive = started.json()["id"], started.json()["directive"]
    phases = [directive["phase"]]
    while not directive["done"]:
        step = directive["until_step"]
        resp = client.post(
            f"/api/v1/sessions/{sid}/reports", json={"step": step, "losses": {"a": 3 - step / 100, "b": 4.0}}
        )
        directive = resp.json()["directive"]
        phases.append(directive["phase"])
    assert phases[0] == "init" and phases[-1] == "done"
    assert phases.count("sweep") == 2 * 2  # two rounds of one sweep over two domains
    assert "exploit" in phases
    history = client.get(f"/api/v1/sessions/{sid}").json()["history"]
    assert [e["directive"]["phase"] for e in history] == phases
    sweeps = [e for e in history if e["directive"]["phase"] == "sweep"]
    assert all(e["directive"]["until_step"] - max(e["step"], 0) == config["lp_steps"] for e in sweeps)
