"""``"config": {"reuse": true}`` on ``POST .../proposals`` (SQLite and PostgreSQL): after a change of the domain
set the service fills the frozen ratios from the stored recommendation (or a fresh one) and the free domains from
the change log; the proposed runs keep those ratios; a project that never changed is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.test_api_runs import assert_problem

BASE = "/api/v1/projects/ru"
CFG = {"model": "linear", "n_candidates": 4000, "top_k": 16}
PROJECT: dict[str, Any] = {
    "name": "ru",
    "domains": [{"name": "web", "tokens": 6e9}, {"name": "code", "tokens": 3e9}, {"name": "books", "tokens": 1e9}],
    "objective": {"metric": "loss"},
}


def _runs(n: int = 12) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        w = [round(float(x), 6) for x in rng.dirichlet(np.ones(3))]
        weights = {"web": w[0], "code": w[1], "books": round(1.0 - w[0] - w[1], 6)}
        loss = 3.0 - 0.5 * weights["web"] - 0.3 * weights["code"]
        out.append({"external_id": f"v1-{i}", "weights": weights, "metrics": {"loss": loss}})
    return out


@pytest.fixture
def ru(client: TestClient) -> TestClient:
    assert client.post("/api/v1/projects", json=PROJECT).status_code == 201
    assert client.post(f"{BASE}/runs", json={"runs": _runs()}).status_code == 201
    return client


def _propose(client: TestClient, n: int = 4, mixer: str = "regmix") -> Any:
    config = {**(CFG if mixer == "regmix" else {}), "reuse": True}
    return client.post(f"{BASE}/proposals", json={"mixer": mixer, "n": n, "config": config})


def test_reuse_after_an_add_freezes_the_stored_recommendation(ru: TestClient) -> None:
    rec = ru.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": CFG})
    assert rec.status_code == 200, rec.text
    old = rec.json()["weights"]
    r = ru.patch(f"{BASE}/domains", json={"op": "add", "domains": [{"name": "math", "tokens": 1e9}]})
    assert r.status_code == 200, r.text
    r = _propose(ru)
    assert r.status_code == 201, r.text
    body = r.json()
    reuse = body["diagnostics"]["reuse"]
    assert reuse["free"] == ["math"] and reuse["from_version"] == 1
    assert reuse["source"].startswith(f"recommendation {rec.json()['id']}")
    total = sum(old.values())
    assert reuse["frozen"] == pytest.approx({k: v / total for k, v in old.items()}, abs=1e-9)
    for run in body["runs"]:
        w = run["weights"]
        block = w["web"] + w["code"] + w["books"]
        for name in ("web", "code", "books"):
            assert w[name] == pytest.approx(block * reuse["frozen"][name], abs=1e-9)
        assert run["domain_version"] == 2
    assert len({run["weights"]["math"] for run in body["runs"]}) == 4  # the free domain varies


def test_reuse_after_a_removal_without_a_stored_recommendation_fits_a_fresh_one(ru: TestClient) -> None:
    r = ru.patch(f"{BASE}/domains", json={"op": "remove", "names": ["books"]})
    assert r.status_code == 200, r.text
    r = _propose(ru, 3, "auto")
    assert r.status_code == 201, r.text
    reuse = r.json()["diagnostics"]["reuse"]
    assert reuse["free"] == [] and reuse["from_version"] == 1  # books had no family siblings
    assert reuse["source"].startswith("a fresh auto recommendation on the 12 runs of version 1")
    assert set(reuse["frozen"]) == {"web", "code"} and sum(reuse["frozen"].values()) == pytest.approx(1.0)
    center = np.array([reuse["frozen"]["web"], reuse["frozen"]["code"]])
    for run in r.json()["runs"]:
        assert set(run["weights"]) == {"web", "code"}
        assert np.abs(np.array([run["weights"]["web"], run["weights"]["code"]]) - center).sum() < 0.4


def test_reuse_on_a_project_that_never_changed_is_a_422_and_writes_nothing(ru: TestClient) -> None:
    r = _propose(ru)
    assert_problem(r, 422, "invalid_reuse", "config.reuse")
    assert len(ru.get(f"{BASE}/runs").json()["runs"]) == 12


def test_a_reuse_recommendation_keeps_the_frozen_ratios_and_uses_old_and_new_runs(ru: TestClient) -> None:
    ru.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": CFG})
    added = ru.patch(f"{BASE}/domains", json={"op": "add", "domains": [{"name": "math", "tokens": 1e9}]})
    assert added.status_code == 200
    body = _propose(ru, 4).json()
    for run in body["runs"]:
        result = {"metrics": {"loss": 2.9 - 0.4 * run["weights"]["math"]}}
        assert ru.post(f"{BASE}/runs/{run['id']}/result", json=result).status_code == 200
    frozen = body["diagnostics"]["reuse"]["frozen"]
    r = ru.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": {**CFG, "reuse": True}})
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["diagnostics"]["reuse"]["search"] == "reduced" and rec["diagnostics"]["reuse"]["free"] == ["math"]
    block = sum(rec["weights"][n] for n in frozen)
    for name, ratio in frozen.items():  # searched in the reuse space: the old domains keep their ratios
        assert rec["weights"][name] == pytest.approx(block * ratio, abs=1e-6)
    assert rec["diagnostics"]["domain_mapping"]["counts"]["exact"] == 12  # the old runs, mapped, are in the fit
    plain = ru.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": CFG}).json()
    assert "reuse" not in plain["diagnostics"]
