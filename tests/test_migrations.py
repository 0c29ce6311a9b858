"""Schema changes go through Alembic: models and migrations agree, and frozen databases upgrade keeping data."""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from store import db
from store.models import Base
from store.records import NewEvaluation, NewRecommendation
from store.repository import Store

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
        engine.dispose()
