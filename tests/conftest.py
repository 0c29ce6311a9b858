"""Shared fixtures: a store on SQLite and on the real PostgreSQL server, and an API client over either.

PostgreSQL: ``MIXOPT_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
names an admin connection; each test session creates its own fresh database and drops it at the end.
Under ``CI=true`` an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

warnings.filterwarnings("ignore", message=".*httpx2.*")

from fastapi.testclient import TestClient  # noqa: E402

from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from store import db  # noqa: E402
from store.models import Base  # noqa: E402
from store.repository import Store  # noqa: E402

ADMIN_PG_URL = os.environ.get("MIXOPT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "app" / "demo" / "regmix"


def _admin_engine():  # type: ignore[no-untyped-def]
    return db.make_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    name = f"mixopt_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable at {ADMIN_PG_URL} under CI=true: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({exc}); set CI=true to make this a failure")
    url = make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False)
    db.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mixopt.db'}"
        db.upgrade(url)
        return url
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(backend_url: str) -> Iterator[Store]:
    s = Store(db.make_engine(backend_url))
    _truncate(s)
    yield s
    s.engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'mixopt.db'}"
    db.upgrade(url)
    s = Store(db.make_engine(url))
    yield s
    s.engine.dispose()


def make_client(store: Store, tmp_path: Path, auth: bool = False, **settings: object) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path, **settings), store=store, auth=auth)  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(store, tmp_path) as c:
        yield c


@pytest.fixture
def sqlite_client(sqlite_store: Store, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(sqlite_store, tmp_path) as c:
        yield c


PROJECT = {
    "name": "p1",
    "domains": [
        {"name": "web", "tokens": 6e9},
        {"name": "code", "tokens": 3e9, "max_weight": 0.8},
        {"name": "books", "tokens": 1e9, "max_epochs": 4},
    ],
    "objective": {"metric": "loss", "direction": "minimize"},
    "target_fidelity": {"params": 1e9, "tokens": 2e10},
}


@pytest.fixture
def project(client: TestClient) -> dict[str, object]:
    r = client.post("/api/v1/projects", json=PROJECT)
    assert r.status_code == 201, r.text
    return dict(r.json())
