"""Sealed templates: the gallery's random id and the check of its data key.

The templates themselves keep their columns; they are sealed in place (one transaction) the first
time the gallery is opened with a master key, which also fills these two columns. Downgrading
drops the check, not the seal: a downgraded gallery's templates stay sealed and unreadable to a
release that predates sealing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_state") as batch:
        batch.add_column(sa.Column("gallery_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("key_check", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gallery_state") as batch:
        batch.drop_column("key_check")
        batch.drop_column("gallery_id")
