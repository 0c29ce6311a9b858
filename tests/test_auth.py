"""Auth fails closed: every API route needs a token when auth is on; project tokens stay in their project."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.services.access import create_token, hash_token
from app.settings import Settings
from store.records import TokenGrant
from store.repository import Store
from tests.conftest import PROJECT, make_client

OPEN_PATHS = {"/healthz", "/readyz", "/version", "/metrics", "/", "/static/{rel:path}", "/static/vendor/plotly.min.js"}


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) in ("{run_id}", "{session_id}") else "p1", path)


def test_every_api_route_needs_a_token(sqlite_store: Store, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), store=sqlite_store, auth=True)
    with TestClient(app) as client:
        checked = 0
        for path, operations in app.openapi()["paths"].items():  # every route of the API, from its schema
            if path in OPEN_PATHS:
                continue
            for method in operations:
                resp = client.request(method.upper(), _fill(path), json={})
                assert resp.status_code == 401, f"{method} {path} answered {resp.status_code} without a token"
                assert resp.json()["code"] == "unauthorized"
                checked += 1
        assert checked >= 20
        bad = client.get("/api/v1/projects", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401


def test_admin_and_project_tokens(sqlite_store: Store, tmp_path: Path) -> None:
    admin = create_token(sqlite_store, "admin")
    assert sqlite_store.token_scope(hash_token(admin)) == TokenGrant(None, None)
    with make_client(sqlite_store, tmp_path, auth=True) as client:
        h_admin = {"Authorization": f"Bearer {admin}"}
        assert client.post("/api/v1/projects", json=PROJECT, headers=h_admin).status_code == 201
        assert client.post("/api/v1/projects", json={**PROJECT, "name": "p2"}, headers=h_admin).status_code == 201
        scoped = create_token(sqlite_store, "team", project="p1")
        h_p1 = {"Authorization": f"Bearer {scoped}"}
        assert client.get("/api/v1/projects/p1", headers=h_p1).status_code == 200
        assert [p["name"] for p in client.get("/api/v1/projects", headers=h_p1).json()["projects"]] == ["p1"]
        assert client.get("/api/v1/projects/p2", headers=h_p1).status_code == 404  # as if p2 did not exist
        assert client.get("/api/v1/projects/p2/runs", headers=h_p1).status_code == 404
        run = {"weights": {"web": 1.0, "code": 0.0, "books": 0.0}, "metrics": {"loss": 1.0}}
        assert client.post("/api/v1/projects/p2/runs", json={"runs": [run]}, headers=h_p1).status_code == 404
        assert client.post("/api/v1/projects/p1/runs", json={"runs": [run]}, headers=h_p1).status_code == 201
        assert client.delete("/api/v1/projects/p1", headers=h_p1).status_code == 403  # admin only
        assert client.post("/api/v1/projects", json={**PROJECT, "name": "p3"}, headers=h_p1).status_code == 403
    assert sqlite_store.count_runs() == 1


def test_tokens_are_stored_hashed(sqlite_store: Store) -> None:
    token = create_token(sqlite_store, "x")
    with sqlite_store.engine.connect() as conn:
        stored = [row[0] for row in conn.exec_driver_sql("SELECT token_hash FROM api_tokens")]
    assert token not in stored and hash_token(token) in stored


def test_without_auth_everything_is_open(sqlite_client: TestClient) -> None:
    assert sqlite_client.get("/api/v1/projects").status_code == 200
