"""A collection's face may come from a video: the time of the frame it shows, and the span of the
track it stands for (NULL for a face of a photo).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_faces") as batch:
        batch.add_column(sa.Column("video_time_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("video_start_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("video_end_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collection_faces") as batch:
        batch.drop_column("video_end_s")
        batch.drop_column("video_start_s")
        batch.drop_column("video_time_s")
