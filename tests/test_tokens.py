"""Token lifecycle: expiry and revocation are 401; ``mixopt token list | revoke``; a project
token gets the same 404 for another project (or its sessions) as for a missing one; an archived project's
sessions are 404 until it is restored. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.services.access import create_token, hash_token, new_token, parse_duration
from app.settings import get_settings
from store.errors import InvalidInput
from store.repository import Store
from tests.conftest import PROJECT, make_client
from tests.test_api_sessions import CONFIG
from tests.test_api_sessions import PROJECT as ONLINE


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth_client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(store, tmp_path, auth=True) as c:
        yield c


def test_durations() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1d12h") == timedelta(hours=36)
    assert parse_duration("P2D") == timedelta(days=2)
    for bad in ("", "soon", "0d", "-3h", "12x"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


def test_expired_and_revoked_tokens_are_401(store: Store, auth_client: TestClient) -> None:
    live = create_token(store, "ci", expires_in=timedelta(days=30))
    assert auth_client.get("/api/v1/projects", headers=_bearer(live)).status_code == 200
    old = new_token()
    store.create_token(hash_token(old), "old", None, old[:10], expires_in=-1.0)  # expired a second ago
    expired = auth_client.get("/api/v1/projects", headers=_bearer(old))
    assert expired.status_code == 401 and expired.json()["code"] == "unauthorized"

    listed = {t.name: t for t in store.list_tokens()}
    assert listed["ci"].expires_at is not None and listed["ci"].revoked_at is None
    assert live.startswith(listed["ci"].prefix) and len(listed["ci"].prefix) < len(live) // 3
    store.revoke_token(listed["ci"].id)
    revoked = auth_client.get("/api/v1/projects", headers=_bearer(live))
    assert revoked.status_code == 401 and revoked.json()["code"] == "unauthorized"
    assert store.list_tokens()[0].revoked_at is not None


def test_another_projects_name_answers_like_a_missing_one(store: Store, auth_client: TestClient) -> None:
    admin = _bearer(create_token(store))
    for name in ("p1", "p2"):
        assert auth_client.post("/api/v1/projects", json={**PROJECT, "name": name}, headers=admin).status_code == 201
    p1 = _bearer(create_token(store, project="p1"))
    for suffix in ("", "/runs", "/export"):
        other = auth_client.get(f"/api/v1/projects/p2{suffix}", headers=p1)
        missing = auth_client.get(f"/api/v1/projects/p9{suffix}", headers=p1)
        assert other.status_code == missing.status_code == 404
        assert other.json() == {**missing.json(), "detail": missing.json()["detail"].replace("p9", "p2")}
    assert auth_client.get("/api/v1/projects/p1", headers=p1).status_code == 200

    assert auth_client.post("/api/v1/projects", json=ONLINE, headers=admin).status_code == 201
    started = auth_client.post("/api/v1/projects/online/sessions", headers=admin,
                               json={"mixer": "aioli", "config": CONFIG, "total_steps": 60})
    sid = started.json()["id"]
    other = auth_client.get(f"/api/v1/sessions/{sid}", headers=p1)
    missing = auth_client.get(f"/api/v1/sessions/{sid + 1000}", headers=p1)
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == missing.json()["code"] == "session_not_found"
    report = auth_client.post(f"/api/v1/sessions/{sid}/reports", headers=p1,
                              json={"step": 0, "losses": {"a": 5.0, "b": 6.0}})
    assert report.status_code == 404 and report.json()["code"] == "session_not_found"


def test_an_archived_projects_sessions_are_404_until_restored(client: TestClient) -> None:
    assert client.post("/api/v1/projects", json=ONLINE).status_code == 201
    started = client.post("/api/v1/projects/online/sessions", json={"mixer": "aioli", "config": CONFIG,
                                                                     "total_steps": 60})
    sid = started.json()["id"]
    assert client.get(f"/api/v1/sessions/{sid}").status_code == 200
    assert client.delete("/api/v1/projects/online").status_code == 204
    gone = client.get(f"/api/v1/sessions/{sid}")
    assert gone.status_code == 404 and gone.json()["code"] == "project_not_found"
    report = client.post(f"/api/v1/sessions/{sid}/reports", json={"step": 0, "losses": {"a": 5.0, "b": 6.0}})
    assert report.status_code == 404
    assert client.post("/api/v1/projects/online/restore").status_code == 200
    assert client.get(f"/api/v1/sessions/{sid}").status_code == 200


def test_cli_token_create_list_revoke(store: Store, backend_url: str, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    monkeypatch.setenv("MIXOPT_DATABASE_URL", backend_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli, ["token", "create", "--name", "bot", "--expires-in", "30d"])
        assert made.exit_code == 0, made.output
        secret = made.output.strip()
        bad = runner.invoke(cli, ["token", "create", "--expires-in", "soon"])
        assert bad.exit_code != 0 and "30d" in bad.output
        listed = runner.invoke(cli, ["token", "list", "--format", "json"])
        assert listed.exit_code == 0, listed.output
        assert secret not in listed.output
        (row,) = [r for r in json.loads(listed.output) if r["name"] == "bot"]
        assert row["state"] == "active" and row["expires_at"] and secret.startswith(row["prefix"])
        gone = runner.invoke(cli, ["token", "revoke", str(row["id"])])
        assert gone.exit_code == 0, gone.output
        assert runner.invoke(cli, ["token", "revoke", "999999"]).exit_code != 0
    finally:
        get_settings.cache_clear()
    with make_client(store, tmp_path, auth=True) as c:
        assert c.get("/api/v1/projects", headers=_bearer(secret)).status_code == 401
