"""Collections of unknown faces and their clusters, with the human decisions that shape them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
    )
    op.create_index("ix_collections_retain_until", "collections", ["retain_until"])
    op.create_table(
        "clusters",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_clusters_collection_id", "clusters", ["collection_id"])
    op.create_table(
        "collection_faces",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("photo_sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("box_left", sa.Integer(), nullable=False),
        sa.Column("box_top", sa.Integer(), nullable=False),
        sa.Column("box_right", sa.Integer(), nullable=False),
        sa.Column("box_bottom", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("crop_jpeg", sa.LargeBinary(), nullable=True),
        sa.Column("cluster_id", IdType, sa.ForeignKey("clusters.id", ondelete="SET NULL"), nullable=True),
        sa.UniqueConstraint("collection_id", "photo_sha256", "face_index", name="uq_collection_faces_photo_face"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_collection_faces_collection_id", "collection_faces", ["collection_id"])
    op.create_index("ix_collection_faces_cluster_id", "collection_faces", ["cluster_id"])
    op.create_table(
        "cluster_links",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("face_a", IdType, sa.ForeignKey("collection_faces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("face_b", IdType, sa.ForeignKey("collection_faces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_cluster_links_collection_id", "cluster_links", ["collection_id"])


def downgrade() -> None:
    op.drop_index("ix_cluster_links_collection_id", "cluster_links")
    op.drop_table("cluster_links")
    op.drop_index("ix_collection_faces_cluster_id", "collection_faces")
    op.drop_index("ix_collection_faces_collection_id", "collection_faces")
    op.drop_table("collection_faces")
    op.drop_index("ix_clusters_collection_id", "clusters")
    op.drop_table("clusters")
    op.drop_index("ix_collections_retain_until", "collections")
    op.drop_table("collections")
