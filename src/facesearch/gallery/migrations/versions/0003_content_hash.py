"""The gallery's content hash: what index files are checked against, beside the generation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesearch.gallery.digest import EMPTY, combine, face_digest

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_state") as batch:
        batch.add_column(sa.Column("content_hash", sa.String(64), nullable=False, server_default=EMPTY))
    connection = op.get_bind()
    total = EMPTY
    for face_id, model_id, embedding in connection.execute(sa.text("SELECT id, model_id, embedding FROM faces")):
        total = combine(total, face_digest(face_id, model_id, bytes(embedding)))
    connection.execute(sa.text("UPDATE gallery_state SET content_hash = :h"), {"h": total})


def downgrade() -> None:
    with op.batch_alter_table("gallery_state") as batch:
        batch.drop_column("content_hash")
