"""Honest fidelity over HTTP: ``predicted_fidelity`` and ``transfer`` on every answer, the project's
fidelity ladder, default proposal fidelities, and a target that names keys the runs do not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PROJECT
from tests.test_api_runs import assert_problem

BASE = "/api/v1/projects/p1"
SMALL = {"tokens": 1e9}
MID = {"tokens": 4e9}
FAST_MFBO = {"n_candidates": 128, "restarts": 1, "refine_top": 1, "kg_set_size": 16}
FAST_REGMIX = {"n_estimators": 50, "n_candidates": 500, "top_k": 8, "cv_trees": 10}
OPT = np.array([0.5, 0.3, 0.2])


def _runs(n: int, fid: dict[str, float], seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w = rng.dirichlet(np.ones(3))
        w = np.minimum(w, [1.0, 0.8, 0.8])
        w = w / w.sum()
        loss = 3.0 + shift + float(((w - OPT) ** 2).sum()) + 0.001 * rng.normal()
        out.append({"external_id": f"{seed}-{i}", "weights": dict(zip(["web", "code", "books"], w.tolist(),
                                                                      strict=True)),
                    "fidelity": dict(fid), "metrics": {"loss": loss}, "cost": fid["tokens"] / 1e9})
    return out


@pytest.fixture
def tour(sqlite_client: TestClient) -> TestClient:
    """The README tour's project: the target names params and tokens, the runs name only tokens."""
    assert sqlite_client.post("/api/v1/projects", json=PROJECT).status_code == 201
    runs = _runs(10, SMALL, 1, 0.2) + _runs(6, MID, 2, 0.1)
    resp = sqlite_client.post(f"{BASE}/runs", json={"runs": runs})
    assert resp.status_code == 201, resp.text
    return sqlite_client


def test_project_ladder_create_patch_and_validation(client: TestClient) -> None:
    ladder = [{"tokens": 1e9}, {"tokens": 4e9}, {"tokens": 2e10}]
    made = client.post("/api/v1/projects", json={**PROJECT, "fidelities": ladder})
    assert made.status_code == 201, made.text
    assert made.json()["fidelities"] == ladder
    assert client.get(BASE).json()["fidelities"] == ladder
    patched = client.patch(BASE, json={"fidelities": ladder[:2]})
    assert patched.status_code == 200 and patched.json()["fidelities"] == ladder[:2]
    assert client.patch(BASE, json={"description": "x"}).json()["fidelities"] == ladder[:2]  # untouched
    assert client.patch(BASE, json={"fidelities": None}).json()["fidelities"] is None
    bad_keys = client.patch(BASE, json={"fidelities": [{"tokens": 1e9}, {"params": 1e6}]})
    assert_problem(bad_keys, 422, "invalid_fidelities", "fidelities[1]")
    dup = client.post("/api/v1/projects", json={**PROJECT, "name": "p2", "fidelities": [SMALL, SMALL]})
    assert_problem(dup, 422, "invalid_fidelities", "fidelities[1]")
    negative = client.patch(BASE, json={"fidelities": [{"tokens": -1.0}]})
    assert_problem(negative, 422, loc="fidelities[0].tokens")
    empty = client.patch(BASE, json={"fidelities": []})
    assert_problem(empty, 422, loc="fidelities")
    assert client.get("/api/v1/projects/p2").status_code == 404  # the rejected create wrote nothing
    assert client.get(BASE).json()["fidelities"] is None


def test_mfbo_answers_the_tour_target_with_the_keys_the_runs_use(tour: TestClient) -> None:
    rec = tour.post(f"{BASE}/recommendations", json={"mixer": "mfbo", "config": FAST_MFBO})
    assert rec.status_code == 200, rec.text
    out = rec.json()
    assert out["predicted_fidelity"] == {"tokens": 2e10}
    assert out["transfer"] == "extrapolated"
    notes = " ".join(out["diagnostics"]["fidelity_key_notes"])
    assert "params" in notes and "no run names" in notes
    at_mid = tour.post(f"{BASE}/recommendations", json={"mixer": "mfbo", "config": FAST_MFBO, "fidelity": MID})
    assert at_mid.status_code == 200, at_mid.text
    assert at_mid.json()["predicted_fidelity"] == MID and at_mid.json()["transfer"] == "observed"
    pred = tour.post(f"{BASE}/predictions", json={"mixer": "mfbo", "config": FAST_MFBO,
                                                  "mixtures": [{"web": 0.5, "code": 0.3, "books": 0.2}]})
    assert pred.status_code == 200, pred.text
    assert pred.json()["predicted_fidelity"] == {"tokens": 2e10} and pred.json()["transfer"] == "extrapolated"
    assert "params" in pred.json()["diagnostics"]["transfer_note"]
    # Nothing can be done: a fidelity that does not name the key the runs vary.
    bad = tour.post(f"{BASE}/recommendations", json={"mixer": "mfbo", "config": FAST_MFBO,
                                                     "fidelity": {"params": 1e9}})
    assert_problem(bad, 422, "mixer_cannot_answer")


@pytest.mark.parametrize("mixer,config", [("regmix", FAST_REGMIX), ("mixing_law", None)])
def test_single_fidelity_mixers_say_their_answer_is_assumed_at_the_target(
    tour: TestClient, mixer: str, config: dict[str, Any] | None
) -> None:
    rec = tour.post(f"{BASE}/recommendations", json={"mixer": mixer, "config": config}).json()
    assert rec["predicted_fidelity"] == PROJECT["target_fidelity"] and rec["transfer"] == "assumed"
    assert "transferred unchanged" in rec["diagnostics"]["transfer_note"]
    # Fitted on the fidelity with the most runs (tokens=1e9): there the numbers are observed.
    at_small = tour.post(f"{BASE}/recommendations", json={"mixer": mixer, "config": config, "fidelity": SMALL})
    assert at_small.json()["predicted_fidelity"] == SMALL and at_small.json()["transfer"] == "observed"
    pred = tour.post(f"{BASE}/predictions", json={"mixer": mixer, "config": config, "fidelity": MID,
                                                  "mixtures": [{"web": 0.5, "code": 0.3, "books": 0.2}]}).json()
    assert pred["predicted_fidelity"] == MID and pred["transfer"] == "assumed"


@pytest.mark.parametrize("mixer,config", [("regmix", FAST_REGMIX), ("mixing_law", None), ("mfbo", FAST_MFBO)])
def test_proposals_default_to_the_fidelities_the_runs_use(
    tour: TestClient, mixer: str, config: dict[str, Any] | None
) -> None:
    resp = tour.post(f"{BASE}/proposals", json={"mixer": mixer, "config": config, "n": 2, "seed": 3})
    assert resp.status_code == 201, resp.text
    assert resp.json()["fidelity_source"] == "runs"
    fids = [r["fidelity"] for r in resp.json()["runs"]]
    assert fids and all(f in (SMALL, MID) for f in fids)  # never silently the target
    if mixer != "mfbo":
        assert all(f == SMALL for f in fids)  # the fidelity with the most runs, the one they fit on
    asked = tour.post(f"{BASE}/proposals", json={"mixer": mixer, "config": config, "n": 1, "seed": 4,
                                                 "fidelity": {"tokens": 2e10}})
    assert asked.json()["fidelity_source"] == "request"
    assert asked.json()["runs"][0]["fidelity"] == {"tokens": 2e10}


def test_proposals_follow_the_project_ladder(tour: TestClient) -> None:
    ladder = [SMALL, MID, {"tokens": 2e10}]
    assert tour.patch(BASE, json={"fidelities": ladder}).status_code == 200
    resp = tour.post(f"{BASE}/proposals", json={"mixer": "regmix", "config": FAST_REGMIX, "n": 2, "seed": 5})
    assert resp.json()["fidelity_source"] == "project_ladder"
    assert all(r["fidelity"] == SMALL for r in resp.json()["runs"])  # single-fidelity mixers: the first rung
    mf = tour.post(f"{BASE}/proposals", json={"mixer": "mfbo", "config": FAST_MFBO, "n": 2, "seed": 6})
    assert mf.status_code == 201, mf.text
    assert mf.json()["fidelity_source"] == "project_ladder"
    assert all(r["fidelity"] in ladder for r in mf.json()["runs"])
    # The tour's runs are all at the small rung and none at the target: mfbo is still calibrating, and says so.
    diag = mf.json()["diagnostics"]
    assert diag["method"] == "calibration" and "wanted" in diag["gate_note"]
    assert [r["run_id"] for r in diag["runs"]] == [r["id"] for r in mf.json()["runs"]]
    assert {r["role"] for r in diag["runs"]} <= {"screen", "pair"}
    # mfbo's single-fidelity mode proposes at the target by design, and says so.
    sf = tour.post(f"{BASE}/proposals", json={"mixer": "mfbo", "config": {**FAST_MFBO, "multi_fidelity": False},
                                              "n": 1, "seed": 7})
    assert sf.status_code == 201, sf.text
    assert sf.json()["fidelity_source"] == "target"
    assert sf.json()["runs"][0]["fidelity"] == {"tokens": 2e10}


def test_without_runs_or_ladder_proposals_are_at_the_target_and_say_so(sqlite_client: TestClient) -> None:
    assert sqlite_client.post("/api/v1/projects", json=PROJECT).status_code == 201
    resp = sqlite_client.post(f"{BASE}/proposals", json={"mixer": "regmix", "n": 2, "seed": 1})
    assert resp.status_code == 201, resp.text
    assert resp.json()["fidelity_source"] == "target"
    assert all(r["fidelity"] == PROJECT["target_fidelity"] for r in resp.json()["runs"])


def test_python_client_carries_the_ladder_and_where_numbers_live(tour: TestClient) -> None:
    from mixopt import Client

    mx = Client(http=tour)
    project = mx.update_project("p1", fidelities=[SMALL, MID])
    assert project.fidelities == [SMALL, MID]
    assert mx.get_project("p1").fidelities == [SMALL, MID]
    rec = mx.recommend("p1", "mfbo", config=FAST_MFBO)
    assert rec.predicted_fidelity == {"tokens": 2e10} and rec.transfer == "extrapolated"
    preds = mx.predict("p1", "regmix", [{"web": 0.5, "code": 0.3, "books": 0.2}], config=FAST_REGMIX, fidelity=SMALL)
    assert preds[0].predicted_fidelity == SMALL and preds[0].transfer == "observed"
    batch = mx.propose("p1", "regmix", n=1, config=FAST_REGMIX, seed=9)
    assert batch.fidelity_source == "project_ladder" and batch.runs[0].fidelity == SMALL
    made = mx.create_project("p2", ["a", "b"], "loss", fidelities=[{"tokens": 1e8}, {"tokens": 1e9}])
    assert made.fidelities == [{"tokens": 1e8}, {"tokens": 1e9}]


def test_cli_shows_where_the_recommendation_lives(tmp_path: Path) -> None:
    from tests.test_import import REGMIX_IMPORT, mixopt

    made = mixopt(tmp_path, *REGMIX_IMPORT, "--create", "--objective", "metric/the_pile_pile_cc_val_loss")
    assert made.returncode == 0, made.stderr
    cfg = json.dumps(FAST_REGMIX)
    table = mixopt(tmp_path, "recommend", "rm", "--mixer", "regmix", "--config", cfg)
    assert table.returncode == 0, table.stderr
    assert "params=1e+06, tokens=1e+09 (observed)" in " ".join(table.stdout.split())
    raw = mixopt(tmp_path, "recommend", "rm", "--mixer", "regmix", "--config", cfg, "--fidelity", "params=1e9",
                 "--fidelity", "tokens=2e10", "--format", "json")
    rec = json.loads(raw.stdout)[0]
    assert rec["predicted_fidelity"] == {"params": 1e9, "tokens": 2e10} and rec["transfer"] == "assumed"


def test_auto_answers_across_fidelities_and_says_how_far_it_extrapolates(tour: TestClient) -> None:
    """Runs at two fidelities: the default mixer answers exactly as the candidate it chose by ranking the larger
    fidelity's held-out runs; every recommendation carries ``extrapolation``."""
    target = {"tokens": 4e10}
    auto = tour.post(f"{BASE}/recommendations", json={"mixer": "auto", "fidelity": target})
    assert auto.status_code == 200, auto.text
    body = auto.json()
    chosen = body["diagnostics"]["auto"]["mixer"]
    scores = body["diagnostics"]["auto"]["spearman_one_rung_up"]
    assert set(scores) == {"regmix", "mixing_law", "mfbo"}
    assert chosen == max((v, k) for k, v in scores.items() if v is not None)[1]
    same = tour.post(f"{BASE}/recommendations", json={"mixer": chosen, "fidelity": target}).json()
    assert body["weights"] == same["weights"] and body["transfer"] == same["transfer"]
    far = body["diagnostics"]["extrapolation"]
    assert far["beyond_runs"] and far["compute_ratio_to_largest_run"] == pytest.approx(10.0)
    near = tour.post(f"{BASE}/recommendations", json={"mixer": "regmix", "config": FAST_REGMIX,
                                                    "fidelity": SMALL}).json()["diagnostics"]["extrapolation"]
    assert near["runs"] == 16 and near["log_compute_beyond_largest_run"] == pytest.approx(-np.log(4.0))
    assert not near["beyond_runs"] and near["nearest_run_distance"] < 0.25
