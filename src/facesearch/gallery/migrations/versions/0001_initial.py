"""Initial gallery: subjects, images, faces, gallery state, hash-chained audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gallery_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "images",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("lawful_basis", sa.String(32), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolled_by", sa.String(256), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.UniqueConstraint("subject_id", "sha256", name="uq_images_subject_sha256"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_images_subject_id", "images", ["subject_id"])
    op.create_index("ix_images_sha256", "images", ["sha256"])
    op.create_table(
        "faces",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("image_id", ID, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
        sa.Column("box_left", sa.Integer(), nullable=False),
        sa.Column("box_top", sa.Integer(), nullable=False),
        sa.Column("box_right", sa.Integer(), nullable=False),
        sa.Column("box_bottom", sa.Integer(), nullable=False),
        sa.Column("landmarks", sa.Text(), nullable=False),
        sa.Column("detector", sa.String(16), nullable=False),
        sa.Column("detector_score", sa.Float(), nullable=False),
        sa.Column("face_px", sa.Integer(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("crop_jpeg", sa.LargeBinary(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_faces_image_id", "faces", ["image_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("case_id", sa.String(256), nullable=True),
        sa.Column("probe_sha256", sa.String(64), nullable=True),
        sa.Column("gallery_generation", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_case_id", "audit_events", ["case_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_head", "audit_events", "faces", "images", "subjects", "gallery_state"):
        op.drop_table(table)
