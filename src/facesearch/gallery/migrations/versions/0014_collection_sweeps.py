"""A collection swept in one step: every cluster searched against the gallery for a case, and the
candidates each search found, kept in the case for nomination and export.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collection_sweeps",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("case_id", sa.String(256), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("authorisation", sa.Text(), nullable=True),
        sa.Column("swept_by", sa.String(256), nullable=False),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("gallery_faces", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_collection_sweeps_collection_id", "collection_sweeps", ["collection_id"])
    op.create_index("ix_collection_sweeps_case_id", "collection_sweeps", ["case_id"])
    op.create_table(
        "collection_sweep_clusters",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("sweep_id", IdType, sa.ForeignKey("collection_sweeps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("cluster_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("search_seq", sa.BigInteger(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_collection_sweep_clusters_sweep_id", "collection_sweep_clusters", ["sweep_id"])
    op.create_table(
        "collection_sweep_candidates",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column(
            "swept_cluster_id",
            IdType,
            sa.ForeignKey("collection_sweep_clusters.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("clears_threshold", sa.Boolean(), nullable=False),
        sa.Column("face_id", sa.BigInteger(), nullable=False),
        sa.Column("expected_fmr", sa.Float(), nullable=True),
        sa.Column("fmr_meaning", sa.Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_collection_sweep_candidates_swept_cluster_id", "collection_sweep_candidates", ["swept_cluster_id"]
    )
    op.create_index("ix_collection_sweep_candidates_subject_id", "collection_sweep_candidates", ["subject_id"])


def downgrade() -> None:
    op.drop_table("collection_sweep_candidates")
    op.drop_table("collection_sweep_clusters")
    op.drop_table("collection_sweeps")
