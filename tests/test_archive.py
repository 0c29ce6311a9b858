"""Deleting a project is recoverable: DELETE archives, restore brings it back, a purge needs
an admin token and the project's name as confirmation; a project token can never delete or purge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.access import create_token
from mixopt.client import Client, NotFound
from store.repository import Store
from tests.conftest import PROJECT, make_client

RUN = {"external_id": "r1", "weights": {"web": 0.5, "code": 0.3, "books": 0.2}, "metrics": {"loss": 3.0}}


def _names(client: TestClient, **params: Any) -> list[str]:
    return [p["name"] for p in client.get("/api/v1/projects", params=params).json()["projects"]]


def test_delete_archives_and_restore_brings_everything_back(client: TestClient, project: dict[str, Any]) -> None:
    assert client.post("/api/v1/projects/p1/runs", json={"runs": [RUN]}).status_code == 201
    assert client.delete("/api/v1/projects/p1").status_code == 204

    assert _names(client) == []
    archived = client.get("/api/v1/projects", params={"include_archived": "true"}).json()["projects"]
    assert [p["name"] for p in archived] == ["p1"] and archived[0]["archived_at"] is not None
    gone = client.get("/api/v1/projects/p1")
    assert gone.status_code == 404 and "archived" in gone.json()["detail"]
    assert client.get("/api/v1/projects/p1/runs").status_code == 404
    assert client.post("/api/v1/projects/p1/runs", json={"runs": [RUN]}).status_code == 404
    again = client.post("/api/v1/projects", json=PROJECT)
    assert again.status_code == 409 and "archived" in again.json()["detail"]

    restored = client.post("/api/v1/projects/p1/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["archived_at"] is None
    assert _names(client) == ["p1"]
    runs = client.get("/api/v1/projects/p1/runs").json()["runs"]
    assert [r["external_id"] for r in runs] == ["r1"]
    assert client.post("/api/v1/projects/p1/restore").status_code == 404  # not archived any more


def test_purge_needs_the_name_as_confirmation(client: TestClient, project: dict[str, Any]) -> None:
    r = client.delete("/api/v1/projects/p1", params={"purge": "true"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "confirm"
    r = client.delete("/api/v1/projects/p1", params={"purge": "true", "confirm": "p2"})
    assert r.status_code == 422
    assert _names(client) == ["p1"]  # nothing happened

    assert client.delete("/api/v1/projects/p1").status_code == 204  # archived first: a purge takes either
    assert client.delete("/api/v1/projects/p1", params={"purge": "true", "confirm": "p1"}).status_code == 204
    assert _names(client, include_archived="true") == []
    assert client.post("/api/v1/projects/p1/restore").status_code == 404
    assert client.post("/api/v1/projects", json=PROJECT).status_code == 201  # the name is free again


def test_a_project_token_can_never_delete_restore_or_purge(store: Store, tmp_path: Path) -> None:
    with make_client(store, tmp_path, auth=True) as client:
        admin = {"Authorization": f"Bearer {create_token(store)}"}
        assert client.post("/api/v1/projects", json=PROJECT, headers=admin).status_code == 201
        scoped = {"Authorization": f"Bearer {create_token(store, project='p1')}"}
        for params in ({}, {"purge": "true", "confirm": "p1"}):
            r = client.delete("/api/v1/projects/p1", params=params, headers=scoped)
            assert r.status_code == 403, r.text
        assert client.get("/api/v1/projects/p1", headers=scoped).status_code == 200
        assert client.delete("/api/v1/projects/p1", headers=admin).status_code == 204
        assert client.post("/api/v1/projects/p1/restore", headers=scoped).status_code == 403
        assert client.post("/api/v1/projects/p1/restore", headers=admin).status_code == 200


@pytest.mark.usefixtures("project")
def test_client_archive_restore_purge(client: TestClient) -> None:
    mx = Client(http=client, retries=0)
    mx.delete_project("p1")
    assert [p.name for p in mx.list_projects()] == []
    [archived] = mx.list_projects(include_archived=True)
    assert archived.name == "p1" and archived.archived_at is not None
    assert mx.restore_project("p1").archived_at is None
    mx.delete_project("p1", purge=True)
    with pytest.raises(NotFound):
        mx.restore_project("p1")
    assert mx.list_projects(include_archived=True) == []
