"""versioned domain sets; family bounds

A project's domain set changes one step at a time (add, remove, split, merge: ``mixers.domain_sets``); each step
is a numbered row of ``domain_versions`` with its change and note. Projects gain ``families`` (bounds on family
totals, a list of ``{name, min_weight, max_weight}``; NULL: none) and ``domain_version`` (the current version;
NULL means 1); runs gain ``domain_version`` (the version they were trained on; NULL means 1). Every existing
project gets its version-1 row here (its domains as they are now, ``change`` NULL), so that the versions list is
never empty.

Revision ID: 0007_domain_versions
Revises: 0006_answer_history
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.clock import utcnow

revision: str = "0007_domain_versions"
down_revision: str | None = "0006_answer_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only ADD COLUMN: SQLite adds it in place (a rebuild of ``projects`` would cascade-delete every run).
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("families", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("domain_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("domain_version", sa.Integer(), nullable=True))
    op.create_table(
        "domain_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("domains", sa.JSON(), nullable=False),
        sa.Column("change", sa.JSON(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=utcnow(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_domain_versions_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_versions")),
        sa.UniqueConstraint("project_id", "version", name="uq_domain_versions_project_version"),
    )
    # version 1 of every existing project: its domains as they are, created when the project was
    op.execute(
        "INSERT INTO domain_versions (project_id, version, domains, change, note, created_at) "
        "SELECT id, 1, domains, NULL, '', created_at FROM projects"
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ drops it in place): a batch rebuild of ``projects`` would cascade-delete
    # every run.
    op.drop_table("domain_versions")
    op.drop_column("runs", "domain_version")
    op.drop_column("projects", "domain_version")
    op.drop_column("projects", "families")
