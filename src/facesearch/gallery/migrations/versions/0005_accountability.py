"""Accountability: allowed search purposes, retention period, legal holds, nominations with their
separate confirmations, the opt-out list, and indexes of the audit log for usage counts and period reports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "search_purposes",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("require_authorisation", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(256), nullable=False),
    )
    with op.batch_alter_table("gallery_state") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_index("ix_images_retain_until", "images", ["retain_until"])  # purge runs on every open
    op.create_table(
        "legal_holds",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by", sa.String(256), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(256), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_legal_holds_subject_id", "legal_holds", ["subject_id"])
    op.create_table(
        "nominations",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("search_seq", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("case_id", sa.String(256), nullable=False),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.String(32), sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("nominated_by", sa.String(256), nullable=False),
        sa.Column("nominated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("search_seq", "face_index", "subject_id", name="uq_nominations_candidate"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_nominations_case_id", "nominations", ["case_id"])
    op.create_index("ix_nominations_subject_id", "nominations", ["subject_id"])
    op.create_table(
        "nomination_decisions",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("nomination_id", IdType, sa.ForeignKey("nominations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("verifier", sa.String(256), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("nomination_id", "verifier", name="uq_decisions_one_per_verifier"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "opt_outs",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("request_ref", sa.Text(), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(256), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_actor_ts", "audit_events", ["actor", "ts"])
    op.create_index("ix_audit_events_probe_ts", "audit_events", ["probe_sha256", "ts"])
    op.create_index("ix_audit_events_ts", "audit_events", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_ts", "audit_events")
    op.drop_index("ix_audit_events_probe_ts", "audit_events")
    op.drop_index("ix_audit_events_actor_ts", "audit_events")
    op.drop_table("opt_outs")
    op.drop_table("nomination_decisions")
    op.drop_index("ix_nominations_subject_id", "nominations")
    op.drop_index("ix_nominations_case_id", "nominations")
    op.drop_table("nominations")
    op.drop_index("ix_legal_holds_subject_id", "legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_images_retain_until", "images")
    with op.batch_alter_table("gallery_state") as batch:
        batch.drop_column("retention_days")
    op.drop_table("search_purposes")
