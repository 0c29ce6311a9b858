"""Mixer endpoints over HTTP on the shipped RegMix runs: catalog, recommend, predict, propose, evaluate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.stats import spearmanr

import mixers
from app.services import demo
from store.repository import Store
from tests.conftest import make_client
from tests.test_api_runs import assert_problem

FAST = {"n_estimators": 100, "n_candidates": 5000, "top_k": 16, "cv_trees": 20}
BASE = "/api/v1/projects/regmix-demo"


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from store import db

    tmp = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp / 'mixopt.db'}"
    db.upgrade(url)
    store = Store(db.make_engine(url))
    demo.ensure_demo(store)
    with make_client(store, Path(tmp)) as client:
        yield client


def test_catalog_lists_every_mixer_with_schema(demo_client: TestClient) -> None:
    catalog = {m["name"]: m for m in demo_client.get("/api/v1/mixers").json()}
    assert set(catalog) == set(mixers.available())
    assert {"regmix", "mixing_law", "aioli", "ot", "mfbo"} <= set(catalog)
    assert catalog["aioli"]["kind"] == "online" and catalog["regmix"]["kind"] == "offline"
    assert catalog["regmix"]["config_schema"]["properties"]["model"]["enum"] == ["auto", "lightgbm", "linear", "ridge"]
    assert catalog["regmix"]["config_schema"]["properties"]["model"]["default"] == "auto"


def test_bad_mixer_requests_are_problems(demo_client: TestClient) -> None:
    assert_problem(demo_client.post(f"{BASE}/recommendations", json={"mixer": "nope"}), 422, "unknown_mixer", "mixer")
    resp = demo_client.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": {"top_k": 0}})
    assert_problem(resp, 422, "invalid_mixer_config", "config.top_k")
    resp = demo_client.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": {"tpo_k": 3}})
    assert_problem(resp, 422, "invalid_mixer_config", "config.tpo_k")
    assert_problem(demo_client.post(f"{BASE}/recommendations", json={"mixer": "aioli"}), 422, "wrong_mixer_kind")
    resp = demo_client.post(f"{BASE}/predictions", json={"mixer": "regmix", "mixtures": [{"arxiv": 1.0, "x": 0.0}]})
    assert_problem(resp, 422, loc="mixtures[0].x")


def test_recommendation_is_feasible_cached_and_better_than_average(demo_client: TestClient) -> None:
    body = {"mixer": "regmix", "config": FAST}
    rec = demo_client.post(f"{BASE}/recommendations", json=body)
    assert rec.status_code == 200, rec.text
    out = rec.json()
    assert sum(out["weights"].values()) == pytest.approx(1.0)
    assert min(out["weights"].values()) >= 0
    assert out["diagnostics"]["runs_used"] == 512
    runs = demo_client.get(f"{BASE}/runs", params={"max_results": 1000}).json()["runs"]
    losses = [r["metrics"]["metric/the_pile_pile_cc_val_loss"] for r in runs]
    assert out["predicted"] < np.mean(losses)
    again = demo_client.post(f"{BASE}/recommendations", json=body).json()
    stored = ("id", "created_at")  # each answer is stored on its own
    assert again["id"] == out["id"] + 1
    assert {k: v for k, v in again.items() if k not in stored} == {k: v for k, v in out.items() if k not in stored}
    metrics_text = demo_client.get("/metrics").text
    assert 'mixopt_fit_cache_hits_total{mixer="regmix"}' in metrics_text


def test_predictions_rank_the_held_out_runs(demo_client: TestClient) -> None:
    """Fit on the 512 train runs through the API; Spearman on the 256 test runs (DESIGN target 0.98)."""
    project = demo_client.get(BASE).json()
    test_runs = demo.regmix_runs(_record(project), "test")
    mixtures = [r.weights for r in test_runs]
    truth = [r.metrics[demo.TARGET_METRIC] for r in test_runs]
    resp = demo_client.post(f"{BASE}/predictions", json={"mixer": "regmix", "mixtures": mixtures})
    assert resp.status_code == 200, resp.text
    preds = [p["mean"] for p in resp.json()["predictions"]]
    assert len(preds) == 256
    assert spearmanr(preds, truth).statistic >= 0.98


def _record(project: dict):  # type: ignore[no-untyped-def]
    from store.records import ProjectRecord

    return ProjectRecord(
        project["id"],
        project["name"],
        "",
        project["domains"],
        project["objective"],
        project["target_fidelity"],
        False,
        0,
        None,
        None,
    )


def test_proposals_are_pending_distinct_and_within_bounds(demo_client: TestClient) -> None:
    body = {"mixer": "regmix", "config": FAST, "n": 6, "seed": 1}
    first = demo_client.post(f"{BASE}/proposals", json=body)
    assert first.status_code == 201, first.text
    runs = first.json()["runs"]
    assert len(runs) == 6 and {r["status"] for r in runs} == {"pending"}
    assert all(r["lease_expires_at"] and r["proposal_id"] == first.json()["id"] for r in runs)
    second = demo_client.post(f"{BASE}/proposals", json=body).json()["runs"]
    mixtures = [tuple(np.round(list(r["weights"].values()), 9)) for r in runs + second]
    assert len(set(mixtures)) == len(mixtures)  # the second batch knows the first is pending
    pending = demo_client.get(f"{BASE}/runs", params={"status": "pending", "max_results": 100}).json()["runs"]
    assert {r["id"] for r in runs + second} <= {r["id"] for r in pending}
    done = demo_client.post(f"{BASE}/runs/{runs[0]['id']}/result", json={"metrics": {demo.TARGET_METRIC: 4.0}}).json()
    assert done["status"] == "completed"


def test_proposal_diagnostics_say_how_the_batch_was_chosen(demo_client: TestClient) -> None:
    body = {"mixer": "regmix", "config": {**FAST, "active": True, "ensemble_trees": 20}, "n": 4, "seed": 5}
    resp = demo_client.post(f"{BASE}/proposals", json=body)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    diag = out["diagnostics"]
    assert diag["method"] == "active" and diag["recipe"]["temperature"] == 0.5 and diag["candidates_scored"] > 4
    assert [r["run_id"] for r in diag["runs"]] == [r["id"] for r in out["runs"]]
    for entry in diag["runs"]:
        assert entry["strength"] > 0 and entry["disagreement"] >= 0 and 0 < entry["plausibility"] <= 1
    plain = demo_client.post(f"{BASE}/proposals", json={"mixer": "regmix", "config": FAST, "n": 2, "seed": 6}).json()
    assert plain["diagnostics"]["method"] == "recipe"
    assert all("disagreement" not in r and r["strength"] > 0 for r in plain["diagnostics"]["runs"])


def test_proposals_from_a_candidate_pool(demo_client: TestClient) -> None:
    names = [d["name"] for d in demo_client.get(BASE).json()["domains"]]
    rng = np.random.default_rng(0)
    pool = [dict(zip(names, map(float, w), strict=True)) for w in rng.dirichlet(np.ones(len(names)), 20)]
    resp = demo_client.post(
        f"{BASE}/proposals", json={"mixer": "regmix", "config": FAST, "n": 3, "candidates": pool, "seed": 2}
    )
    assert resp.status_code == 201, resp.text
    pool_rows = np.array([[c[n] for n in names] for c in pool])
    for run in resp.json()["runs"]:
        w = np.array([run["weights"][n] for n in names])
        assert np.abs(pool_rows - w).max(axis=1).min() < 1e-9


def test_evaluation_compares_mixers(demo_client: TestClient) -> None:
    resp = demo_client.post(
        f"{BASE}/evaluations",
        json={
            "mixers": [
                {"mixer": "regmix", "config": {"n_estimators": 200}},
                {"mixer": "regmix", "config": {"model": "linear"}},
            ],
            "folds": 4,
        },
    )
    assert resp.status_code == 200, resp.text
    lgb, lin = resp.json()["results"]
    assert lgb["n_runs"] >= 512 and len(lgb["predicted"]) == lgb["n_runs"]  # + runs completed above
    assert lgb["spearman"] > lin["spearman"] > 0.8
    assert lgb["regret"] >= 0 and lgb["mae"] > 0
    assert lgb["error"] is None and lin["error"] is None


def test_evaluation_scores_the_others_when_one_mixer_cannot_answer(demo_client: TestClient) -> None:
    """``ot`` needs embeddings the demo project lacks: its own result carries the error, the rest are scored."""
    resp = demo_client.post(
        f"{BASE}/evaluations",
        json={"mixers": [{"mixer": "ot"}, {"mixer": "regmix", "config": {"model": "ridge"}},
                         {"mixer": "mixing_law"}], "folds": 3},
    )
    assert resp.status_code == 200, resp.text
    ot, ridge, law = resp.json()["results"]
    assert ot["mixer"] == "ot" and ot["spearman"] is None and ot["predicted"] == []
    assert ot["error"]["code"] == "mixer_cannot_answer" and "embedding" in ot["error"]["detail"]
    for scored in (ridge, law):
        assert scored["error"] is None and scored["spearman"] > 0.8
        assert len(scored["predicted"]) == scored["n_runs"]


def test_evaluation_reports_progress_per_fold(demo_client: TestClient) -> None:
    from app.services import evaluation

    store = demo_client.app.state.store  # type: ignore[attr-defined]
    seen: list[tuple[int, int]] = []
    results = evaluation.evaluate(store, "regmix-demo", [("regmix", {"model": "ridge"}), ("mixing_law", None)], 4,
                              None, 0, 600, progress=lambda done, total: seen.append((done, total)))
    assert [r.error for r in results] == [None, None]
    assert sorted(seen) == [(i, 8) for i in range(1, 9)]


def test_evaluation_auto_matches_a_plain_refit_per_fold(demo_client: TestClient) -> None:
    """The shared-work path (members fitted once per fold, weights from the other folds) ranks as well as
    refitting the whole mixer, its own nested cross-validation included, on every fold."""
    from app.services import evaluation, fitting
    from mixers.base import OfflineMixer
    from mixers.regmix import RegMixConfig, RegMixMixer

    store = demo_client.app.state.store  # type: ignore[attr-defined]
    cfg = {"n_estimators": 200, "cv_trees": 50}
    [fast] = evaluation.evaluate(store, "regmix-demo", [("regmix", cfg)], 4, None, 0, 600)
    project = store.get_project("regmix-demo")
    runs = [r for r in store.all_runs(project.id, ["completed"]) if r.id in set(fast.run_ids)]
    obs = fitting.observations(project, runs)
    order = np.random.default_rng(0).permutation(len(obs))
    fold_of = np.empty(len(obs), dtype=int)
    fold_of[order] = np.arange(len(obs)) % 4
    folds = [([o for o, f in zip(obs, fold_of, strict=True) if f != k],
              [o for o, f in zip(obs, fold_of, strict=True) if f == k]) for k in range(4)]
    mixer = RegMixMixer(fitting.make_problem(project), RegMixConfig(**cfg), 0)
    plain = OfflineMixer.cross_val_predict(mixer, folds, runs[0].fidelity)
    pred = np.empty(len(obs))
    for k, part in enumerate(plain):
        pred[fold_of == k] = part
    y = np.array(fast.actual)
    assert abs(spearmanr(pred, y).statistic - fast.spearman) < 0.01
