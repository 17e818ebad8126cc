"""The audit trail: typed events with stable names, written through one path, hash-chained.

Each event's hash is SHA-256 over the previous event's hash and the canonical JSON of its own
fields, so changing, removing or reordering any stored event breaks the chain from that point;
the single-row chain head, updated in the same transaction as each append, also exposes a
removed tail. Events never hold images or embeddings: subjects appear by their opaque id.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.gallery.schema import AuditEventRow, AuditHeadRow
from facesearch.gallery.store import serialise
from facesearch.types import AuditEvent, ChainReport

GENESIS = "0" * 64


class AuditAction(enum.StrEnum):
    """Stable event names. Never rename one: old chains must stay verifiable."""

    INIT = "gallery.init"
    ENROLL = "face.enroll"
    IDENTIFY = "search.identify"
    VERIFY = "search.verify"
    ERASE = "subject.erase"
    CALIBRATE = "gallery.calibrate"
    USER_ADD = "user.add"
    USER_DISABLE = "user.disable"
    TOKEN_ISSUE = "token.issue"  # since migration 0010 only the first admin's own token, at init
    TOKEN_REVOKE = "token.revoke"
    TOKEN_ROTATE = "token.rotate"  # by its owner: the old one revoked, a new one made
    ACTIVATION_ISSUE = "activation.issue"  # an admin issued a one-time code for a user
    ACTIVATION_REDEEM = "activation.redeem"  # its user exchanged it for a token only they saw
    ACTIVATION_FAILED = "activation.failed"  # a code that could not be spent, and why
    SESSION_START = "session.start"  # a web UI sign-in
    SESSION_END = "session.end"  # a web UI sign-out
    REFUSED = "policy.refused"
    PHOTO_REFUSED = "photo.refused"  # an identified user's search or enrollment refused for its photo
    AUTH_FAILED = "auth.failed"
    SUBJECT_REPORT = "subject.report"
    PURPOSE_ADD = "purpose.add"
    PURPOSE_REMOVE = "purpose.remove"
    NOMINATE = "candidate.nominate"
    CONFIRM = "candidate.confirm"
    REJECT = "candidate.reject"
    EXPORT = "case.export"
    RETENTION_SET = "gallery.retention"
    PURGE = "gallery.purge"  # a destruction certificate: what, when, why, counts
    HOLD_PLACE = "subject.hold"
    HOLD_RELEASE = "subject.release"
    OPT_OUT = "optout.record"
    FLAGGED = "search.flagged"  # an anomaly flag on a search: burst, repeated probe, off hours
    TRANSPARENCY_REPORT = "report.transparency"
    COLLECTION_CLUSTER = "collection.cluster"
    CLUSTER_MERGE = "cluster.merge"
    CLUSTER_SPLIT = "cluster.split"
    CLUSTER_CANNOT_LINK = "cluster.cannot_link"
    CLUSTER_NAME = "cluster.name"
    COLLECTION_DELETE = "collection.delete"
    COLLECTION_REPORT = "collection.report"
    COLLECTION_SWEEP = "collection.sweep"  # every cluster of a collection searched in one step (each one a search)
    COLLECTION_FACE_VIEW = "collection.face_view"  # a collection face's crop was shown to someone
    FACE_VIEW = "face.view"  # an enrolled face's crop was shown to someone
    CASE_OPEN = "case.open"  # the first search or nomination naming a case opened it, owned by its actor
    CASE_ADD_MEMBER = "case.add_member"
    PROBE_VIEW = "probe.view"  # the kept crop of a searched face was shown to someone
    MODEL_REGISTER = "model.register"  # a face model registered from a local file, with its licence statement
    MODEL_MOVE = "model.move"  # the gallery's templates made again with another model, the old ones destroyed


def stamp(moment: datetime) -> str:
    """The stored form of a timestamp: ISO 8601 in UTC to the microsecond, as hashed.

    Every stored ``ts`` has this one fixed-width form, so comparing the strings orders them in
    time; range queries (:func:`events`, :mod:`facesearch.governance.usage`) compare against ``stamp(bound)``
    and so use the ``(actor, ts)`` index. A naive datetime is refused: its zone would be a guess.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(row: AuditEventRow) -> str:
    fields = {
        "seq": row.seq,
        "ts": row.ts,
        "actor": row.actor,
        "action": row.action,
        "purpose": row.purpose,
        "case": row.case_id,
        "probe_sha256": row.probe_sha256,
        "gallery_generation": row.gallery_generation,
        "details": row.details,
    }
    return hashlib.sha256((row.prev_hash + _canonical(fields)).encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    gallery_generation: int,
    purpose: str | None = None,
    case: str | None = None,
    probe_sha256: str | None = None,
    details: Mapping[str, Any] | None = None,
    ts: datetime | None = None,
) -> int:
    """Append one event inside the caller's transaction and return its sequence number.

    ``ts`` defaults to now; tests pass it to place events at chosen times (the hash covers it as
    any other field). The engine never passes it: a real event happens when it is written.
    """
    # PostgreSQL: queue behind any other appender (the head row may not exist yet, and FOR UPDATE
    # locks nothing then), and read the head as that appender left it, not as this session first saw it.
    serialise(session)
    head = session.get(AuditHeadRow, 1, with_for_update=True, populate_existing=True)
    if head is None:
        head = AuditHeadRow(id=1, seq=0, hash=GENESIS)
        session.add(head)
    row = AuditEventRow(
        seq=head.seq + 1,
        ts=stamp(ts or datetime.now(UTC)),
        actor=actor,
        action=action.value,
        purpose=purpose,
        case_id=case,
        probe_sha256=probe_sha256,
        gallery_generation=gallery_generation,
        details=_canonical(details or {}),
        prev_hash=head.hash,
    )
    row.hash = _digest(row)
    session.add(row)
    head.seq, head.hash = row.seq, row.hash
    session.flush()
    return row.seq


def verify(session: Session) -> ChainReport:
    """Recompute the whole chain; report the first event that does not fit, if any."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq)).yield_per(1000):
        if row.seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"event {expected_seq} is missing")
        if row.prev_hash != prev_hash:
            return ChainReport(False, count, row.seq, "does not link to the event before it")
        if _digest(row) != row.hash:
            return ChainReport(False, count, row.seq, "its content does not match its hash")
        prev_hash, expected_seq, count = row.hash, expected_seq + 1, count + 1
    head = session.get(AuditHeadRow, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if (head_seq, head_hash) != (count, prev_hash):
        return ChainReport(False, count, count + 1, f"the chain head records {head_seq} events")
    return ChainReport(True, count)


def details_of(row: AuditEventRow) -> dict[str, Any]:
    """An event's details, parsed."""
    details: dict[str, Any] = json.loads(row.details)
    return details


def summary(details: Mapping[str, Any]) -> str:
    """An event's details on one line, for tables and pages: lists shown by their length, hashes
    (64 hex characters) shortened; the event itself keeps everything."""
    parts = []
    for key, value in details.items():
        if isinstance(value, list):
            value = f"[{len(value)}]"
        elif isinstance(value, str) and len(value) == 64:
            value = value[:12] + "…"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def as_event(row: AuditEventRow) -> AuditEvent:
    """A stored row as the event callers see."""
    return AuditEvent(
        seq=row.seq,
        ts=datetime.fromisoformat(row.ts),
        actor=row.actor,
        action=row.action,
        purpose=row.purpose,
        case=row.case_id,
        probe_sha256=row.probe_sha256,
        gallery_generation=row.gallery_generation,
        details=details_of(row),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def events(
    session: Session,
    *,
    action: str | None = None,
    case: str | None = None,
    limit: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    after: int | None = None,
    newest_first: bool = False,
) -> list[AuditEvent]:
    """Stored events, oldest first, optionally filtered by action, case and time.

    The time bounds are half-open, ``since <= ts < until``, so consecutive periods never count an
    event twice (a whole day D is ``since`` = D 00:00 UTC, ``until`` = D+1 00:00 UTC). Either may
    be left out; both must carry a time zone. ``before`` keeps events numbered below it, ``after``
    those above it, and ``newest_first`` reverses the order: with ``limit``, one page of the log,
    read forwards (``after``) or backwards (``before``), found by the primary key however long the log.
    """
    query = select(AuditEventRow).order_by(AuditEventRow.seq.desc() if newest_first else AuditEventRow.seq)
    if before is not None:
        query = query.where(AuditEventRow.seq < before)
    if after is not None:
        query = query.where(AuditEventRow.seq > after)
    if action:
        query = query.where(AuditEventRow.action == action)
    if case:
        query = query.where(AuditEventRow.case_id == case)
    if since is not None:
        query = query.where(AuditEventRow.ts >= stamp(since))
    if until is not None:
        query = query.where(AuditEventRow.ts < stamp(until))
    if limit:
        query = query.limit(limit)
    return [as_event(row) for row in session.scalars(query)]
