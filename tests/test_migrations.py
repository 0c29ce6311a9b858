"""Schema changes go through Alembic: models and migrations agree, and frozen databases upgrade keeping data."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from store import db
from store.models import Base
from store.records import NewEvaluation, NewRecommendation
from store.repository import Store
from tests.conftest import ADMIN_PG_URL

FROZEN = Path(__file__).parent / "data"


def test_models_match_the_migrations(backend_url: str) -> None:
    """Alembic's autogenerate comparison of head against the models is empty (on SQLite and PostgreSQL)."""
    engine = db.make_engine(backend_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_frozen_databases_upgrade_and_keep_their_data(tmp_path: Path) -> None:
    frozen = sorted(FROZEN.glob("mixopt_*.sqlite"))
    assert frozen, "one frozen database per released schema revision"
    for path in frozen:
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        url = f"sqlite:///{copy}"
        db.upgrade(url)
        engine = db.make_engine(url)
        assert db.current_revision(engine) == db.head_revision()
        store = Store(engine)
        project = store.get_project("frozen")
        assert len(project.uid) == 32  # 0004 gives every existing project a uid (the fit cache's key)
        runs = store.all_runs(project.id)
        assert [r.external_id for r in runs] == [f"r{i}" for i in range(5)]
        assert [r.metrics["loss"] for r in runs] == [3 - i / 10 for i in range(5)]
        # 0006: no default mixer yet, an empty history that takes answers
        assert project.default_mixer is None
        assert store.list_recommendations(project.id, 10, None).items == []
        assert store.list_evaluations(project.id, 10, None).items == []
        kept = store.add_recommendation(project.id, NewRecommendation("regmix", {}, {"mixer": "regmix"}, {"x": 1}))
        store.add_evaluation(project.id, NewEvaluation(["regmix"], [{}], {"mixers": []}, {"results": []}))
        assert [r.id for r in store.list_recommendations(project.id, 10, None).items] == [kept.id]
        assert store.get_evaluation(project.id, 1).mixers == ["regmix"]
        # 0007: version 1 of the domain set, every run at it
        assert project.domain_version == 1 and project.families == []
        assert [(v.version, v.change) for v in store.domain_versions(project.id)] == [(1, None)]
        assert {r.domain_version for r in runs} == {1}
        engine.dispose()


def _at_0006_with_data(url: str) -> None:
    """A database at revision 0006 holding one project with two runs (written as that revision's schema)."""
    db.upgrade(url, "0006_answer_history")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (name, uid, description, domains, objective, allow_missing_domains, "
                "data_version) VALUES ('old', 'u0006', '', :domains, :objective, false, 3)"
            ),
            {
                "domains": '[{"name": "a", "tokens": 1.0}, {"name": "b", "tokens": 3.0}]',
                "objective": '{"metrics": {"loss": 1.0}, "direction": "minimize"}',
            },
        )
        pid = conn.execute(text("SELECT id FROM projects WHERE name = 'old'")).scalar_one()
        for i in range(2):
            conn.execute(
                text(
                    "INSERT INTO runs (project_id, external_id, weights, weights_sum, fidelity, fidelity_key, status, "
                    "metrics, tags, content_hash) VALUES (:pid, :ext, :w, 1.0, '{}', '', 'completed', :m, '{}', :h)"
                ),
                {"pid": pid, "ext": f"r{i}", "w": '{"a": 0.5, "b": 0.5}', "m": f'{{"loss": {3 - i}}}', "h": f"h{i}"},
            )
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of either backend (PostgreSQL: a fresh database, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    request.getfixturevalue("pg_url")  # skips (or fails under CI) when PostgreSQL is unreachable
    name = f"mixopt_mig_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_0007_gives_existing_projects_version_one_and_downgrades_keeping_runs(empty_url: str) -> None:
    _at_0006_with_data(empty_url)
    db.upgrade(empty_url, "0007_domain_versions")
    engine = db.make_engine(empty_url)
    store = Store(engine)
    project = store.get_project("old")
    assert (project.domain_version, project.families, project.data_version) == (1, [], 3)
    [v1] = store.domain_versions(project.id)
    assert (v1.version, v1.change, v1.note) == (1, None, "")
    assert [d["name"] for d in v1.domains] == ["a", "b"]
    runs = store.all_runs(project.id)
    assert [(r.external_id, r.domain_version) for r in runs] == [("r0", 1), ("r1", 1)]
    engine.dispose()
    command.downgrade(db.alembic_config(empty_url), "0006_answer_history")
    engine = db.make_engine(empty_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 2  # no cascade from a rebuild
        assert conn.execute(text("SELECT count(*) FROM projects")).scalar_one() == 1
        assert not inspect(conn).has_table("domain_versions")
        assert "domain_version" not in {c["name"] for c in inspect(conn).get_columns("runs")}
        assert not {"families", "domain_version"} & {c["name"] for c in inspect(conn).get_columns("projects")}
    engine.dispose()
    db.upgrade(empty_url)  # and up again
    engine = db.make_engine(empty_url)
    assert [v.version for v in Store(engine).domain_versions(1)] == [1]
    engine.dispose()
