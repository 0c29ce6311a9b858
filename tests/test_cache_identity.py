"""A purged project's cached fits never answer for a new project.

SQLite reuses the id of a purged project's row; the fit cache is keyed by the project's ``uid`` (a UUID made at
creation), so a project created after a purge fits its own data.
"""

from __future__ import annotations

import pickle
import sys
import types
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


def test_a_change_of_the_numerics_misses_the_cache(monkeypatch: Any) -> None:
    from app.services import fitting

    before = fitting.cache_key("fit", "uid", 3, "regmix", {}, 0)
    monkeypatch.setattr(fitting, "NUMERICS_DIGEST", "another-build")
    assert fitting.cache_key("fit", "uid", 3, "regmix", {}, 0) != before


def _pickle_of_a_class_that_moved() -> bytes:
    module = types.ModuleType("mixopt_gone_module")
    cls = type("Fitted", (), {"__module__": module.__name__})
    module.Fitted = cls  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        return pickle.dumps(cls())
    finally:
        del sys.modules[module.__name__]


class _Store:
    """The two cache calls of the Store, holding one entry that no longer unpickles (its class moved)."""

    def __init__(self) -> None:
        self.blobs = {"k": _pickle_of_a_class_that_moved()}
        self.puts: list[str] = []

    def cache_get(self, key: str) -> bytes | None:
        return self.blobs.get(key)

    def cache_put(self, project_id: int, key: str, data: bytes) -> None:
        self.puts.append(key)


def test_an_entry_the_running_code_cannot_load_is_recomputed() -> None:
    from app.services import fitting

    store = _Store()
    try:
        pickle.loads(store.blobs["k"])
    except ImportError:
        pass
    else:
        raise AssertionError("the entry should not load")
    value = fitting.cached(store, 1, "k", lambda: "fresh", "regmix")  # type: ignore[arg-type]
    assert value == "fresh" and store.puts == ["k"]
