"""A collection's copies: files that are byte-identical or near-copies (re-saved, resized, bordered)
of another of its photos, whose faces alone are stored; erased with the collection.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "collection_copies",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("collection_id", sa.String(32), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("photo_sha256", sa.String(64), nullable=False),
        sa.Column("copy_sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("distance_bits", sa.Integer(), nullable=False),
        sa.UniqueConstraint("collection_id", "filename", "copy_sha256", name="uq_collection_copies_file"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_collection_copies_photo", "collection_copies", ["collection_id", "photo_sha256"])


def downgrade() -> None:
    op.drop_index("ix_collection_copies_photo", "collection_copies")
    op.drop_table("collection_copies")
