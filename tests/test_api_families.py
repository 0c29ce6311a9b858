"""Family bounds over HTTP (SQLite and PostgreSQL): a project lists every family its domain names imply, bounds on
family totals are checked (a name that is no family, bounds no mixture meets) and reach the mixers, whose
recommendation keeps the family total inside them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.fitting import make_problem
from store.repository import Store
from tests.test_api_runs import assert_problem

BASE = "/api/v1/projects/fam"
DOMAINS: list[dict[str, Any]] = [
    {"name": "dclm/web/high", "tokens": 3e9},
    {"name": "dclm/web/low", "tokens": 3e9},
    {"name": "dclm/code", "tokens": 2e9},
    {"name": "books", "tokens": 2e9},
]
PROJECT = {"name": "fam", "domains": DOMAINS, "objective": {"metric": "loss"}}
NAMES = [d["name"] for d in DOMAINS]


def _create(client: TestClient, **extra: Any) -> Any:
    return client.post("/api/v1/projects", json={**PROJECT, **extra})


def test_every_implied_family_is_listed_with_its_bounds(client: TestClient, store: Store) -> None:
    r = _create(client, families=[{"name": "dclm/web", "min_weight": 0.1, "max_weight": 0.6}])
    assert r.status_code == 201, r.text
    assert r.json()["families"] == [
        {"name": "dclm", "domains": ["dclm/web/high", "dclm/web/low", "dclm/code"], "min_weight": None,
         "max_weight": None},
        {"name": "dclm/web", "domains": ["dclm/web/high", "dclm/web/low"], "min_weight": 0.1, "max_weight": 0.6},
    ]  # fmt: skip
    problem = make_problem(store.get_project("fam"))
    assert [(f.name, f.members, f.min_weight, f.max_weight) for f in problem.families] == [
        ("dclm", (0, 1, 2), None, None),
        ("dclm/web", (0, 1), 0.1, 0.6),
    ]
    mixtures = np.array([[0.3, 0.2, 0.2, 0.3], [0.4, 0.4, 0.1, 0.1], [0.05, 0.0, 0.5, 0.45]])
    assert problem.feasible(mixtures).tolist() == [True, False, False]


BAD = [
    ([{"name": "dclm/nope", "max_weight": 0.5}], "invalid_families", "families[0].name"),
    ([{"name": "books", "max_weight": 0.5}], "invalid_families", "families[0].name"),  # a domain, no family
    ([{"name": "dclm"}, {"name": "dclm", "max_weight": 0.2}], "invalid_families", "families[1].name"),
    ([{"name": "dclm", "min_weight": 0.6, "max_weight": 0.4}], "validation_error", "families[0]"),
    ([{"name": "dclm", "max_weight": 1.5}], "validation_error", "families[0].max_weight"),
    # dclm/web at least 0.7 and dclm at most 0.5: each alone is fine, together no mixture meets them
    ([{"name": "dclm/web", "min_weight": 0.7}, {"name": "dclm", "max_weight": 0.5}], "invalid_families", "families"),
]


@pytest.mark.parametrize(("families", "code", "loc"), BAD)
def test_bad_family_bounds_are_422s_and_create_nothing(
    client: TestClient, families: list[dict[str, Any]], code: str, loc: str
) -> None:
    assert_problem(_create(client, families=families), 422, code, loc)
    assert client.get(BASE).status_code == 404


def test_family_bounds_must_fit_the_domain_bounds(client: TestClient, store: Store) -> None:
    domains = [{**d, "min_weight": 0.2} if d["name"].startswith("dclm/web") else d for d in DOMAINS]
    r = _create(client, domains=domains, families=[{"name": "dclm/web", "max_weight": 0.3}])
    assert_problem(r, 422, "invalid_families", "families[0].max_weight")
    assert _create(client, families=[{"name": "dclm/web", "max_weight": 0.3}]).status_code == 201
    before = store.get_project("fam")
    # new domain bounds that the family bound cannot meet: nothing written
    assert_problem(client.patch(BASE, json={"domains": domains}), 422, "invalid_families")
    r = client.patch(BASE, json={"families": [{"name": "dclm/web", "max_weight": 0.35}], "domains": domains})
    assert_problem(r, 422, "invalid_families", "families[0].max_weight")
    assert store.get_project("fam") == before


def test_patching_families_replaces_them_and_invalidates_fits(client: TestClient, store: Store) -> None:
    assert _create(client).status_code == 201
    version = store.get_project("fam").data_version
    r = client.patch(BASE, json={"families": [{"name": "dclm", "min_weight": 0.5}]})
    assert r.status_code == 200, r.text
    assert r.json()["families"][0] == {"name": "dclm", "domains": NAMES[:3], "min_weight": 0.5, "max_weight": None}
    assert store.get_project("fam").data_version == version + 1
    assert store.get_project("fam").families == [{"name": "dclm", "min_weight": 0.5, "max_weight": None}]
    assert_problem(client.patch(BASE, json={"families": [{"name": "x"}]}), 422, "invalid_families", "families[0].name")
    assert client.patch(BASE, json={"description": "d"}).json()["families"][0]["min_weight"] == 0.5  # kept
    r = client.patch(BASE, json={"families": None})
    assert [f["min_weight"] for f in r.json()["families"]] == [None, None]
    assert store.get_project("fam").families == []


def _runs(n: int = 24) -> list[dict[str, Any]]:
    """Runs whose loss falls with the weight on dclm/web (the unbounded optimum puts most weight there)."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        w = rng.dirichlet(np.ones(4))
        weights = {k: float(v) for k, v in zip(NAMES, w, strict=True)}
        loss = 3.0 - 0.8 * (w[0] + w[1]) - 0.1 * w[2] + 0.05 * rng.normal()
        out.append({"external_id": f"r{i}", "weights": weights, "metrics": {"loss": float(loss)}})
    return out


def test_regmix_recommendation_keeps_the_family_total_inside_its_bounds(client: TestClient) -> None:
    """regmix scores only candidates that ``Problem.feasible`` keeps (family bounds included) and averages the best
    of them, so its recommendation meets the family bounds; without the bound it goes past them."""
    assert _create(client).status_code == 201
    assert client.post(f"{BASE}/runs", json={"runs": _runs()}).status_code == 201
    body = {"mixer": "regmix", "config": {"model": "linear", "n_candidates": 20_000, "top_k": 16}}

    def web_total() -> float:
        r = client.post(f"{BASE}/recommendations", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["diagnostics"]["candidates_projected"] is False
        w = r.json()["weights"]
        return float(w["dclm/web/high"] + w["dclm/web/low"])

    assert web_total() > 0.5
    assert client.patch(BASE, json={"families": [{"name": "dclm/web", "max_weight": 0.3}]}).status_code == 200
    assert web_total() <= 0.3 + 1e-9
    assert client.patch(BASE, json={"families": [{"name": "dclm/web", "min_weight": 0.1, "max_weight": 0.2}]})
    assert 0.1 - 1e-9 <= web_total() <= 0.2 + 1e-9
