"""Calibrations record their rule (overall, or worst group) and the per-group figures it was set from.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calibrations") as batch:
        batch.add_column(sa.Column("rule", sa.String(32), nullable=False, server_default="overall"))
        batch.add_column(sa.Column("groups", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calibrations") as batch:
        batch.drop_column("groups")
        batch.drop_column("rule")
