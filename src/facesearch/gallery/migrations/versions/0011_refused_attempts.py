"""Refused attempts that name no one, counted per day and reason instead of audited.

A request with no credential, or with a token, activation code or web session the gallery never
issued, is attributable to nobody; writing each to the audit chain would let an anonymous flood
grow it. They are counted here (see facesearch.governance.attempts) and published, by reason, in
the transparency report.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_attempts",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("reason", sa.String(64), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refused_attempts")
