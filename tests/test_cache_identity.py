"""A purged project's cached fits never answer for a new project (issue 23, item 2).

SQLite reuses the id of a purged project's row; the fit cache is keyed by the project's ``uid`` (a UUID made at
creation), so a project created after a purge fits its own data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient


def _project(client: TestClient, domains: list[str]) -> None:
    body = {"name": "p", "domains": [{"name": d} for d in domains], "objective": {"metric": "loss"}}
    assert client.post("/api/v1/projects", json=body).status_code == 201
    rng = np.random.default_rng(0)
    runs: list[dict[str, Any]] = []
    for i, w in enumerate(rng.dirichlet(np.ones(len(domains)), size=12)):
        runs.append({"external_id": f"r{i}", "weights": dict(zip(domains, w.tolist(), strict=True)),
                     "metrics": {"loss": float(3 - w[0])}})
    assert client.post("/api/v1/projects/p/runs", json={"runs": runs}).status_code == 201


def test_a_project_made_after_a_purge_gets_its_own_answers(client: TestClient) -> None:
    ask = {"mixer": "regmix", "config": {"model": "linear"}}
    _project(client, ["alpha", "beta"])
    first = client.post("/api/v1/projects/p/recommendations", json=ask)
    assert first.status_code == 200, first.text
    assert set(first.json()["weights"]) == {"alpha", "beta"}
    gone = client.delete("/api/v1/projects/p", params={"purge": "true", "confirm": "p"})
    assert gone.status_code == 204

    _project(client, ["xray", "yankee", "zulu"])
    rec = client.post("/api/v1/projects/p/recommendations", json=ask)
    assert rec.status_code == 200, rec.text
    assert set(rec.json()["weights"]) == {"xray", "yankee", "zulu"}
    pred = client.post("/api/v1/projects/p/predictions",
                       json={**ask, "mixtures": [{"xray": 0.2, "yankee": 0.3, "zulu": 0.5}]})
    assert pred.status_code == 200, pred.text
    assert len(pred.json()["predictions"]) == 1
