"""project archive; 64-bit seeds

Deleting a project archives it (``archived_at``); ``DELETE ...?purge=true`` removes it. Seeds are documented up
to 2**32-1, past PostgreSQL's 32-bit ``integer``: the seed columns become ``bigint``.

Revision ID: 0003_project_archive
Revises: 0002_project_fidelities
Create Date: 2026-11-28 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_project_archive"
down_revision: str | None = "0002_project_fidelities"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    for table in ("proposals", "sessions"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("seed", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)


def downgrade() -> None:
    for table in ("proposals", "sessions"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("seed", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True)
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("archived_at")
