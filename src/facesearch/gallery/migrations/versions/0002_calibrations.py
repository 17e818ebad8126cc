"""Calibrations: operating thresholds set from measured impostor scores.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "calibrations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("target_fmr", sa.Float(), nullable=False),
        sa.Column("fnmr_at_threshold", sa.Float(), nullable=False),
        sa.Column("dataset", sa.Text(), nullable=False),
        sa.Column("dataset_sha256", sa.String(64), nullable=False),
        sa.Column("genuine_pairs", sa.BigInteger(), nullable=False),
        sa.Column("impostor_pairs", sa.BigInteger(), nullable=False),
        sa.Column("fmr_curve", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_calibrations_model_id", "calibrations", ["model_id"])


def downgrade() -> None:
    op.drop_index("ix_calibrations_model_id", "calibrations")
    op.drop_table("calibrations")
