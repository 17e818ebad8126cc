"""Cases with members, and the probe faces kept for review while their case lives.

A gallery from before this revision has searches and nominations naming cases, but no case
records. Each such case is opened as of its first search or nomination: its owner is the user who
ran that, its members every user who searched, nominated or exported under it (they were already
working it), and it is retained for the gallery's retention period from its latest search,
nomination, decision or export. No probe face was kept before, so none is made up here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

IdType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The audit actions that work a case (stable names, see facesearch.governance.audit.AuditAction).
WORKING = ("search.identify", "search.verify", "collection.cluster", "candidate.nominate", "case.export")
ACTIVITY = (*WORKING, "candidate.confirm", "candidate.reject")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
    )
    op.create_index("ix_cases_retain_until", "cases", ["retain_until"])
    op.create_table(
        "case_members",
        sa.Column("case_id", sa.String(256), sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_name", sa.String(256), sa.ForeignKey("users.name"), primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_case_members_user_name", "case_members", ["user_name"])
    op.create_table(
        "probe_faces",
        sa.Column("id", IdType, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(256), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("search_seq", sa.BigInteger(), nullable=False),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("crop_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("search_seq", "face_index", name="uq_probe_faces_search_face"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_probe_faces_case_id", "probe_faces", ["case_id"])
    _open_existing_cases(op.get_bind())


def _open_existing_cases(connection: sa.Connection) -> None:
    """A case record for every case earlier searches and nominations named (see the module doc)."""
    events = sa.table(
        "audit_events", sa.column("seq"), sa.column("ts"), sa.column("actor"), sa.column("action"), sa.column("case_id")
    )
    rows = connection.execute(
        sa.select(events.c.ts, events.c.actor, events.c.action, events.c.case_id)
        .where(events.c.action.in_(ACTIVITY), events.c.case_id.is_not(None), events.c.case_id != "")
        .order_by(events.c.seq)
    ).all()
    if not rows:
        return
    users = {name for (name,) in connection.execute(sa.text("SELECT name FROM users"))}
    days = connection.execute(sa.text("SELECT retention_days FROM gallery_state")).scalar()
    opened: dict[str, tuple[str, str]] = {}  # case: (owner, opened at)
    members: dict[str, list[str]] = {}
    latest: dict[str, date] = {}
    for ts, actor, action, case in rows:
        latest[case] = max(latest.get(case, date.min), date.fromisoformat(str(ts)[:10]))
        if action not in WORKING or actor not in users:
            continue
        opened.setdefault(case, (actor, str(ts)))
        if actor not in members.setdefault(case, []):
            members[case].append(actor)
    cases = sa.table("cases", sa.column("id"), sa.column("owner"), sa.column("opened_at"), sa.column("retain_until"))
    case_members = sa.table(
        "case_members", sa.column("case_id"), sa.column("user_name"), sa.column("added_at"), sa.column("added_by")
    )
    for case, (owner, ts) in opened.items():
        at = datetime.fromisoformat(ts).astimezone(UTC)
        until = latest[case] + timedelta(days=days) if days else None
        connection.execute(sa.insert(cases).values(id=case, owner=owner, opened_at=at, retain_until=until))
        connection.execute(
            sa.insert(case_members),
            [{"case_id": case, "user_name": name, "added_at": at, "added_by": owner} for name in members[case]],
        )


def downgrade() -> None:
    op.drop_index("ix_probe_faces_case_id", "probe_faces")
    op.drop_table("probe_faces")
    op.drop_index("ix_case_members_user_name", "case_members")
    op.drop_table("case_members")
    op.drop_index("ix_cases_retain_until", "cases")
    op.drop_table("cases")
