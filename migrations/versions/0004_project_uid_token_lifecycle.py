"""project uid; token expiry, revocation and display prefix

``projects.uid`` is a UUID made when a project is created, never reused: the fit cache is keyed by it, so a
project created after a purge (which SQLite may give the purged row's id) never reads the purged project's
cached fits. Existing projects get a fresh uid. API tokens gain ``expires_at``, ``revoked_at`` and ``prefix``
(the first characters of the secret, shown by ``mixopt token list`` to tell tokens apart).

Revision ID: 0004_project_uid_token_lifecycle
Revises: 0003_project_archive
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_project_uid_token_lifecycle"
down_revision: str | None = "0003_project_archive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("uid", sa.String(32), nullable=True))
    conn = op.get_bind()
    projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("uid", sa.String))
    for (pid,) in conn.execute(sa.select(projects.c.id)).all():
        conn.execute(projects.update().where(projects.c.id == pid).values(uid=uuid.uuid4().hex))
    # An index, not a table rebuild: rebuilding ``projects`` on SQLite would cascade-delete its runs.
    op.create_index("ix_projects_uid", "projects", ["uid"], unique=True)
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("prefix", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
        batch.drop_column("prefix")
    op.drop_index("ix_projects_uid", table_name="projects")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("uid")
