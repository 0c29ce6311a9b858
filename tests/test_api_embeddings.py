"""Embedding sets over HTTP and the OT mixer through the API; ``mixopt embed`` from text files."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from store.records import NewProject
from store.repository import Store
from tests.test_api_runs import assert_problem

PROJECT = {"name": "ot", "domains": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "objective": {"metric": "loss"}}
URL = "/api/v1/projects/ot/embeddings"


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def put(client: TestClient, name: str, arr: np.ndarray) -> Any:
    return client.put(f"{URL}/{name}", content=npy(arr), headers={"content-type": "application/octet-stream"})


def clusters(seed: int = 0, n: int = 60) -> dict[str, np.ndarray]:
    """Three well-separated Gaussian clusters and a target drawn 0.6 / 0.3 / 0.1 from them."""
    rng = np.random.default_rng(seed)
    centers = {"a": np.array([0.0, 0.0]), "b": np.array([8.0, 0.0]), "c": np.array([0.0, 8.0])}
    sets = {k: (c + rng.normal(size=(n, 2))).astype(np.float32) for k, c in centers.items()}
    counts = {"a": 36, "b": 18, "c": 6}
    sets["target"] = np.vstack([c + rng.normal(size=(counts[k], 2)) for k, c in centers.items()]).astype(np.float32)
    return sets


def test_put_npy_and_json_and_list(client: TestClient, store: Store) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    arr = np.arange(12, dtype=np.float32).reshape(4, 3)
    first = put(client, "a", arr)
    assert first.status_code == 200, first.text
    assert first.json()["shape"] == [4, 3]
    as_json = client.put(f"{URL}/target", json={"vectors": arr.tolist()})
    assert as_json.status_code == 200
    assert as_json.json()["sha256"] == first.json()["sha256"]  # stored once
    listed = client.get(URL).json()
    assert [e["name"] for e in listed] == ["a", "target"]
    project_id = client.get("/api/v1/projects/ot").json()["id"]
    np.testing.assert_array_equal(store.load_embeddings(project_id)["a"], arr)


@pytest.mark.parametrize(
    ("body", "ctype", "msg"),
    [
        (b"not an npy file", "application/octet-stream", "not a valid .npy"),
        (npy(np.zeros((0, 3), dtype=np.float32)), "application/octet-stream", "empty"),
        (npy(np.array([[1.0, np.nan]])), "application/octet-stream", "NaN"),
        (npy(np.zeros((2, 2, 2))), "application/octet-stream", "2-D"),
        (npy(np.array([["x", "y"]])), "application/octet-stream", "numeric"),
        (npy(np.zeros((2, 5), dtype=np.float32)), "application/octet-stream", "dimension"),
        (b'{"vectors": [[1, 2, 3], [1, 2]]}', "application/json", "same length"),
        (b'{"vectors": "x"}', "application/json", "vectors"),
    ],
)
def test_bad_sets_store_nothing(client: TestClient, store: Store, body: bytes, ctype: str, msg: str) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    assert put(client, "a", np.ones((3, 3), dtype=np.float32)).status_code == 200
    resp = client.put(f"{URL}/b", content=body, headers={"content-type": ctype})
    problem = assert_problem(resp, 422)
    assert msg in problem["detail"] or any(msg in e["loc"] or msg in e["msg"] for e in problem.get("errors", []))
    assert [e["name"] for e in client.get(URL).json()] == ["a"]


def test_unknown_set_name(client: TestClient) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    assert_problem(put(client, "zzz", np.ones((2, 2))), 422, "unknown_set", "set")


def test_ot_mixer_recovers_the_target_mixture(client: TestClient) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    for name, arr in clusters().items():
        assert put(client, name, arr).status_code == 200
    rec = client.post("/api/v1/projects/ot/recommendations", json={"mixer": "ot"})
    assert rec.status_code == 200, rec.text
    w = rec.json()["weights"]
    assert abs(w["a"] - 0.6) + abs(w["b"] - 0.3) + abs(w["c"] - 0.1) < 0.1
    preds = client.post(
        "/api/v1/projects/ot/predictions", json={"mixer": "ot", "mixtures": [w, {"a": 0.0, "b": 0.0, "c": 1.0}]}
    ).json()["predictions"]
    assert preds[0]["mean"] < preds[1]["mean"]


def test_ot_without_embeddings_is_a_clear_error(client: TestClient) -> None:
    client.post("/api/v1/projects", json=PROJECT)
    resp = client.post("/api/v1/projects/ot/recommendations", json={"mixer": "ot"})
    problem = assert_problem(resp, 422, "mixer_cannot_answer")
    assert "target" in problem["detail"]


def test_cli_embed_writes_and_stores_sets(tmp_path: Path) -> None:
    env = {**os.environ, "MIXOPT_DATA_DIR": str(tmp_path)}
    words = {"a": "python code function class import return", "b": "court law judge appeal statute ruling"}
    files = []
    for name, vocab in words.items():
        path = tmp_path / f"{name}.txt"
        tokens = vocab.split()
        path.write_text("\n".join(" ".join(tokens[(i + j) % len(tokens)] for j in range(4)) for i in range(30)))
        files += ["--set", f"{name}={path}"]
    (tmp_path / "t.txt").write_text("python function return\ncourt judge ruling\n")
    files += ["--set", f"target={tmp_path / 't.txt'}"]
    from store import db

    db.upgrade(f"sqlite:///{tmp_path / 'mixopt.db'}")
    store = Store(db.make_engine(f"sqlite:///{tmp_path / 'mixopt.db'}"))
    store.create_project(
        NewProject(
            name="txt",
            domains=[{"name": "a"}, {"name": "b"}],
            objective={"metrics": {"loss": 1.0}, "direction": "minimize"},
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "embed",
            *files,
            "--out",
            str(tmp_path / "vec"),
            "--project",
            "txt",
            "--dim",
            "16",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    arr = np.load(tmp_path / "vec" / "a.npy")
    assert arr.shape == (30, 16) and arr.dtype == np.float32
    assert set(store.embedding_index(store.get_project("txt").id)) == {"a", "b", "target"}
