"""``POST /api/v1/projects/{name}/importance`` on SQLite and PostgreSQL: what drives the objective."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.test_api_runs import assert_problem

BASE = "/api/v1/projects/drive"
DOMAINS = ["web", "code", "books", "math"]
FID = {"params": 1e6, "tokens": 1e9}
FAST = {"n_estimators": 100, "n_candidates": 2000, "top_k": 16, "cv_trees": 20}


def loss(w: np.ndarray) -> float:
    """Only the first domain (web) drives the loss: it falls as web's weight grows."""
    return float(2.0 + np.exp(1.0 - 2.5 * w[0]))


@pytest.fixture
def drive(client: TestClient) -> TestClient:
    r = client.post(
        "/api/v1/projects",
        json={
            "name": "drive",
            "domains": [{"name": n, "tokens": 1e9} for n in DOMAINS],
            "objective": {"metric": "loss", "direction": "minimize"},
            "target_fidelity": FID,
        },
    )
    assert r.status_code == 201, r.text
    w = np.random.default_rng(3).dirichlet(np.ones(len(DOMAINS)), size=48)
    runs = [
        {
            "external_id": f"r{i}",
            "weights": dict(zip(DOMAINS, map(float, row), strict=True)),
            "fidelity": FID,
            "metrics": {"loss": loss(row)},
        }
        for i, row in enumerate(w)
    ]
    r = client.post(f"{BASE}/runs", json={"runs": runs})
    assert r.status_code in (200, 201), r.text
    return client


@pytest.mark.parametrize(
    ("mixer", "config", "method"),
    [
        ("regmix", FAST, "lightgbm_shap+law_slope"),
        ("mixing_law", None, "law_slope"),
        ("mfbo", {"ard": True}, "gp_inverse_lengthscale"),
    ],
)
def test_importance_ranks_the_domain_that_drives_the_loss_first(
    drive: TestClient, mixer: str, config: dict | None, method: str
) -> None:
    r = drive.post(f"{BASE}/importance", json={"mixer": mixer, "config": config})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mixer"] == mixer and out["method"] == method and out["method_detail"]
    values = [e["value"] for e in out["importance"]]
    assert sorted(e["domain"] for e in out["importance"]) == sorted(DOMAINS)
    assert values == sorted(values, reverse=True)
    assert all(v >= 0 for v in values) and sum(values) == pytest.approx(1.0)
    assert out["importance"][0]["domain"] == "web"
    assert out["predicted_fidelity"] == FID and out["transfer"] == "observed"
    pd = out["partial_dependence"]  # no domain asked: the most important one
    assert pd["domain"] == "web"
    assert len(pd["grid"]) == len(pd["mean"]) == len(pd["std"]) >= 10
    assert pd["grid"] == sorted(pd["grid"])
    assert pd["mean"][0] > pd["mean"][-1]  # more web, lower loss
    if mixer == "mfbo":
        assert all(s is not None and s > 0 for s in pd["std"])


def test_partial_dependence_follows_the_asked_domain_and_is_cached(drive: TestClient) -> None:
    body = {"mixer": "regmix", "config": FAST, "domain": "code"}
    first = drive.post(f"{BASE}/importance", json=body)
    assert first.status_code == 200, first.text
    pd = first.json()["partial_dependence"]
    assert pd["domain"] == "code"
    web = drive.post(f"{BASE}/importance", json={**body, "domain": "web"}).json()["partial_dependence"]
    assert np.ptp(pd["mean"]) < np.ptp(web["mean"])  # code barely moves the prediction; web does
    assert drive.post(f"{BASE}/importance", json=body).json() == first.json()


def test_other_mixers_are_measured_by_permutation(drive: TestClient) -> None:
    r = drive.post(f"{BASE}/importance", json={"mixer": "mfbo", "config": {"ard": False}})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "permutation"
    assert r.json()["importance"][0]["domain"] == "web"


def test_bad_requests_name_the_field_and_write_nothing(drive: TestClient) -> None:
    before = drive.get(BASE).json()
    assert_problem(
        drive.post(f"{BASE}/importance", json={"mixer": "regmix", "domain": "nope"}), 422, "unknown_domain", "domain"
    )
    assert_problem(drive.post(f"{BASE}/importance", json={"mixer": "nope"}), 422, "unknown_mixer", "mixer")
    assert_problem(drive.post(f"{BASE}/importance", json={"mixer": "aioli"}), 422, "wrong_mixer_kind", "mixer")
    assert_problem(
        drive.post(f"{BASE}/importance", json={"mixer": "regmix", "config": {"top_k": 0}}),
        422,
        "invalid_mixer_config",
        "config.top_k",
    )
    assert_problem(drive.post(f"{BASE}/importance", json={"mixer": "regmix", "domain": ""}), 422, loc="domain")
    assert_problem(drive.post(f"{BASE}/importance", json={"mixer": "regmix", "seed": -1}), 422, loc="seed")
    assert_problem(drive.post("/api/v1/projects/absent/importance", json={"mixer": "regmix"}), 404)
    after = drive.get(BASE).json()
    assert after["summary"] == before["summary"]
    assert len(drive.get(f"{BASE}/runs").json()["runs"]) == 48


def test_a_project_without_enough_runs_is_a_problem_not_a_500(client: TestClient, project: dict) -> None:
    assert_problem(client.post("/api/v1/projects/p1/importance", json={"mixer": "regmix"}), 422, "mixer_cannot_answer")
