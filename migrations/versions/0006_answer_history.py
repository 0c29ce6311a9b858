"""answer history; project default mixer

Every recommendation and evaluation the API answers is stored (``recommendations``, ``evaluations``: the request
and the response as sent), so that the dashboard and clients can list them after a reload. Projects gain
``default_mixer``, the offline mixer a user chose as the project's default (NULL: none chosen).

Revision ID: 0006_answer_history
Revises: 0005_session_start
Create Date: 2026-12-07 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.clock import utcnow

revision: str = "0006_answer_history"
down_revision: str | None = "0005_session_start"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _answers(table: str, mixer_column: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        mixer_column,
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=utcnow(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f(f"fk_{table}_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    )
    with op.batch_alter_table(table) as batch:
        batch.create_index(batch.f(f"ix_{table}_project_id"), ["project_id"], unique=False)


def upgrade() -> None:
    # Only ADD COLUMN: SQLite adds it in place (a rebuild of ``projects`` would cascade-delete every run).
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("default_mixer", sa.String(length=64), nullable=True))
    _answers("recommendations", sa.Column("mixer", sa.String(length=64), nullable=False))
    _answers("evaluations", sa.Column("mixers", sa.JSON(), nullable=False))


def downgrade() -> None:
    for table in ("evaluations", "recommendations"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_project_id"))
        op.drop_table(table)
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("default_mixer")
