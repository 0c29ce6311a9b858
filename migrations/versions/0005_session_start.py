"""session start

A session records how it started (``start``: uniform, given initial weights, or an offline mixer's
recommendation, with that recommendation). Sessions made before this revision keep ``start`` NULL.

Revision ID: 0005_session_start
Revises: 0004_project_uid_token_lifecycle
Create Date: 2026-12-03 17:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_session_start"
down_revision: str | None = "0004_project_uid_token_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("start", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("start")
