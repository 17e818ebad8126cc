"""Users with roles, and API tokens stored as salted hashes.

A gallery made before users existed gets one admin: the person who ran its init (the actor of its
gallery.init audit event), so it stays manageable after the upgrade.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_name", sa.String(256), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_tokens_user_name", "tokens", ["user_name"])
    connection = op.get_bind()
    founder = connection.execute(
        sa.text("SELECT actor FROM audit_events WHERE action = 'gallery.init' ORDER BY seq LIMIT 1")
    ).scalar()
    if founder:
        users = sa.table(
            "users",
            sa.column("name", sa.String),
            sa.column("role", sa.String),
            sa.column("disabled", sa.Boolean),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("created_by", sa.String),
        )
        op.bulk_insert(
            users,
            [
                {
                    "name": founder,
                    "role": "admin",
                    "disabled": False,
                    "created_at": datetime.now(UTC),
                    "created_by": "migration 0004",
                }
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_tokens_user_name", "tokens")
    op.drop_table("tokens")
    op.drop_table("users")
