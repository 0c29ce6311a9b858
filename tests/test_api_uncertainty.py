"""Uncertainty, rigorous comparison and per-run proposal diagnostics over HTTP, on SQLite and PostgreSQL: ``std``
with its meaning and the observed range on recommendations and predictions; evaluations with held-out std,
coverage, folds, standard errors, the fidelity evaluated and the winner; ``diagnostics.runs`` of proposals."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.evaluation import EvaluationRequest, EvaluationScore, choose_winner, resolve_default_mixer
from tests.test_api_embeddings import clusters, put

NAME = "ot"  # the embeddings helpers address the project of this name
BASE = f"/api/v1/projects/{NAME}"
FID = {"params": 1e6, "tokens": 1e9}
SMALL = {"params": 1e5, "tokens": 1e8}
FAST = {"n_estimators": 100, "cv_trees": 50}


def law(w: np.ndarray) -> np.ndarray:
    """A mixing law ``(n,)`` of mixtures ``(n, 3)``: the truth the runs are drawn from."""
    return np.asarray(2.0 + np.exp(0.3 - 1.6 * w[:, 0] + 0.9 * w[:, 1] - 0.2 * w[:, 2]))


def make_project(client: TestClient, n: int = 60, small: int = 0) -> np.ndarray:
    """A 3-domain project with ``n`` completed runs at ``FID`` (and ``small`` at ``SMALL``) drawn from :func:`law`
    with a little noise; returns the mixtures ``(n, 3)`` at ``FID``."""
    r = client.post("/api/v1/projects", json={
        "name": NAME, "domains": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "objective": {"metric": "loss", "direction": "minimize"}, "target_fidelity": FID})
    assert r.status_code == 201, r.text
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), size=n + small)
    y = law(w) + rng.normal(0, 0.01, size=n + small)
    runs = [{"external_id": f"r{i}", "weights": dict(zip("abc", map(float, w[i]), strict=True)),
             "fidelity": FID if i < n else SMALL, "metrics": {"loss": float(y[i])}} for i in range(n + small)]
    r = client.post(f"{BASE}/runs", json={"runs": runs})
    assert r.status_code in (200, 201), r.text
    return w[:n]


def test_recommendations_and_predictions_carry_std_meaning_and_range(client: TestClient) -> None:
    w = make_project(client)
    values = law(w)
    for mixer, config in (("regmix", FAST), ("mixing_law", None), ("mfbo", None), ("auto", None)):
        body: dict[str, Any] = {"mixer": mixer, "seed": 0} | ({"config": config} if config else {})
        rec = client.post(f"{BASE}/recommendations", json=body)
        assert rec.status_code == 200, rec.text
        out = rec.json()
        assert out["std"] is not None and out["std"] > 0, (mixer, out["std"])
        assert isinstance(out["std_meaning"], str) and "sd" in out["std_meaning"]
        span = out["observed_range"]
        assert span["fidelity"] == FID
        assert span["min"] == pytest.approx(min(values), abs=0.05) and span["max"] == pytest.approx(
            max(values), abs=0.05)
        assert out["beyond_observed"] == (out["predicted"] < span["min"] or out["predicted"] > span["max"])
        pred = client.post(f"{BASE}/predictions", json={
            **body, "mixtures": [{"a": 1.0, "b": 0.0, "c": 0.0}, {"a": 0.3, "b": 0.4, "c": 0.3}]})
        assert pred.status_code == 200, pred.text
        page = pred.json()
        assert page["std_meaning"] == out["std_meaning"] and page["observed_range"] == span
        for p in page["predictions"]:
            assert p["std"] is not None and p["std"] > 0
            assert p["beyond_observed"] == (p["mean"] < span["min"] or p["mean"] > span["max"])
    # auto delegates: its meaning names the mixer it chose
    rec = client.post(f"{BASE}/recommendations", json={"mixer": "auto"}).json()
    assert rec["std_meaning"].startswith("from regmix")


def test_ot_has_no_std_and_says_why(client: TestClient) -> None:
    make_project(client)
    for name, arr in clusters().items():
        assert put(client, name, arr).status_code == 200
    rec = client.post(f"{BASE}/recommendations", json={"mixer": "ot"})
    assert rec.status_code == 200, rec.text
    assert rec.json()["std"] is None and "no std" in rec.json()["std_meaning"]


def test_observed_range_is_null_where_no_run_is(client: TestClient) -> None:
    make_project(client)
    other = {"params": 1e9, "tokens": 2e10 * 3}
    rec = client.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": FAST, "fidelity": other})
    assert rec.status_code == 200, rec.text
    assert rec.json()["observed_range"] is None and rec.json()["beyond_observed"] is False


def test_evaluation_reports_coverage_folds_and_fidelity(client: TestClient) -> None:
    make_project(client, n=60, small=12)
    r = client.post(f"{BASE}/evaluations", json={
        "mixers": ["mixing_law", {"mixer": "regmix", "config": FAST}, "mfbo"], "folds": 4})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["fidelity"] == FID  # the fidelity with the most runs; the 12 small runs are not scored
    assert out["fidelities"] == [FID, SMALL] and out["fidelity_runs"] == [60, 12]
    for res in out["results"]:
        assert res["error"] is None, res
        assert len(res["std"]) == len(res["run_ids"]) == res["n_runs"] == 60
        assert all(s is not None and s > 0 for s in res["std"])
        for level in ("68", "95"):
            assert 0.0 <= res["coverage"][level] <= 1.0
        assert res["coverage"]["95"] >= res["coverage"]["68"]
        assert [f["fold"] for f in res["folds"]] == [0, 1, 2, 3]
        assert sum(f["n"] for f in res["folds"]) == 60
        assert res["spearman_se"] is not None and res["spearman_se"] >= 0 and res["mae_se"] is not None
        # recompute the coverage from the std and the predictions
        z = np.abs(np.array(res["actual"]) - np.array(res["predicted"])) / np.array(res["std"])
        assert res["coverage"]["68"] == pytest.approx(float(np.mean(z <= 0.994457883)))
    small = client.post(f"{BASE}/evaluations", json={"mixers": ["regmix"], "folds": 3, "fidelity": SMALL})
    assert small.status_code == 200, small.text
    assert small.json()["fidelity"] == SMALL and small.json()["results"][0]["n_runs"] == 12


def test_evaluation_tie_keeps_the_default_and_a_clear_winner_wins(client: TestClient) -> None:
    make_project(client)
    # auto delegates to regmix with its defaults here (one fidelity): identical predictions, an exact tie
    tie = client.post(f"{BASE}/evaluations", json={"mixers": ["regmix", "auto"], "folds": 4, "default_mixer": "auto"})
    assert tie.status_code == 200, tie.text
    res = tie.json()["results"]
    assert res[0]["predicted"] == res[1]["predicted"]
    winner = tie.json()["winner"]
    assert winner["mixer"] == "auto" and winner["default_mixer"] == "auto" and winner["metric"] == "spearman"
    assert "standard error" in winner["rule"]
    # without default_mixer the first listed is the default
    first = client.post(f"{BASE}/evaluations", json={"mixers": ["regmix", "auto"], "folds": 4}).json()["winner"]
    assert first["mixer"] == "regmix" and first["default_mixer"] == "regmix"
    # the project's default_mixer setting is the default when the request names none
    assert client.patch(BASE, json={"default_mixer": "auto"}).status_code == 200
    setting = client.post(f"{BASE}/evaluations", json={"mixers": ["regmix", "auto"], "folds": 4}).json()["winner"]
    assert setting["mixer"] == "auto" and setting["default_mixer"] == "auto"
    assert client.patch(BASE, json={"default_mixer": None}).status_code == 200
    # a two-stump regressor against the law the data come from: the law wins although regmix is the default
    weak = {"model": "lightgbm", "n_estimators": 5, "num_leaves": 2, "min_child_samples": 2, "cv_trees": 5}
    clear = client.post(f"{BASE}/evaluations", json={
        "mixers": [{"mixer": "regmix", "config": weak}, "mixing_law"], "folds": 4, "default_mixer": "regmix"})
    assert clear.status_code == 200, clear.text
    out = clear.json()
    means = [np.mean([f["spearman"] for f in r["folds"] if f["spearman"] is not None]) for r in out["results"]]
    assert means[1] - out["results"][1]["spearman_se"] > means[0]
    assert out["winner"]["mixer"] == "mixing_law" and out["winner"]["index"] == 1
    assert out["winner"]["default_mixer"] == "regmix"


def test_evaluation_input_errors_name_the_field(client: TestClient) -> None:
    make_project(client, n=20)
    bad = client.post(f"{BASE}/evaluations", json={"mixers": ["regmix"], "default_mixer": "mfbo"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "default_mixer"
    nowhere = client.post(f"{BASE}/evaluations", json={"mixers": ["regmix"], "fidelity": SMALL})
    assert nowhere.status_code == 422 and nowhere.json()["errors"][0]["loc"] == "fidelity"
    unknown = client.post(f"{BASE}/evaluations", json={"mixers": ["nope"]})
    assert unknown.status_code == 422
    empty = client.post(f"{BASE}/evaluations", json={"mixers": [""]})
    assert empty.status_code == 422


@pytest.mark.parametrize("mixer", ["regmix", "auto", "mixing_law", "mfbo", "ot"])
def test_proposal_runs_carry_role_predicted_and_std(client: TestClient, mixer: str) -> None:
    make_project(client, n=30)
    if mixer == "ot":
        for name, arr in clusters().items():
            assert put(client, name, arr).status_code == 200
    config = FAST if mixer == "regmix" else None
    body: dict[str, Any] = {"mixer": mixer, "n": 4, "seed": 3} | ({"config": config} if config else {})
    r = client.post(f"{BASE}/proposals", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    entries = out["diagnostics"]["runs"]
    assert [e["run_id"] for e in entries] == [run["id"] for run in out["runs"]]
    for e in entries:
        assert isinstance(e["role"], str) and e["role"]
        assert e["predicted"] is not None and np.isfinite(e["predicted"])
        if mixer == "ot":
            assert e["std"] is None
        else:
            assert e["std"] is not None and e["std"] > 0
    # the predictions are the mixer's own at each run's mixture and fidelity
    mixtures = [run["weights"] for run in out["runs"]]
    pred = client.post(f"{BASE}/predictions", json={
        "mixer": mixer, "mixtures": mixtures, "fidelity": out["runs"][0]["fidelity"], "seed": 3,
        **({"config": config} if config else {})}).json()["predictions"]
    assert [p["mean"] for p in pred] == pytest.approx([e["predicted"] for e in entries], rel=1e-6)


def score(mixer: str, folds: list[float]) -> EvaluationScore:
    return EvaluationScore(mixer, {}, None, None, None, 0, [], [], [], None,
                           folds=[{"fold": i, "n": 10, "spearman": s, "mae": None, "regret": None}
                                  for i, s in enumerate(folds)],
                           spearman_se=float(np.std(folds, ddof=1) / np.sqrt(len(folds))))


def test_winner_rule_one_standard_error() -> None:
    default, better = score("regmix", [0.80, 0.82, 0.78, 0.80]), score("mfbo", [0.86, 0.76, 0.88, 0.78])
    tie = choose_winner([default, better], "regmix", 4)
    assert tie.mixer == "regmix" and tie.index == 0 and "default keeps it" in tie.rule
    clear = choose_winner([default, score("mfbo", [0.95, 0.96, 0.94, 0.95])], "regmix", 4)
    assert clear.mixer == "mfbo" and clear.index == 1
    failed = EvaluationScore("ot", {}, None, None, None, 0, [], [], [], None)
    assert choose_winner([failed], "ot", 4).mixer is None


def test_default_mixer_resolution() -> None:
    request = EvaluationRequest([("regmix", None), ("mfbo", None)])
    plain = SimpleNamespace(default_mixer=None)
    assert resolve_default_mixer(plain, request) == "regmix"  # type: ignore[arg-type]
    with_setting = SimpleNamespace(default_mixer="mfbo")
    assert resolve_default_mixer(with_setting, request) == "mfbo"  # type: ignore[arg-type]
    unlisted = SimpleNamespace(default_mixer="ot")
    assert resolve_default_mixer(unlisted, request) == "regmix"  # type: ignore[arg-type]
    asked = EvaluationRequest([("regmix", None), ("mfbo", None)], default_mixer="mfbo")
    assert resolve_default_mixer(plain, asked) == "mfbo"  # type: ignore[arg-type]
