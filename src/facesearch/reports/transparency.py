"""The transparency report: how the gallery was used over a period, in aggregates only.

Built from the audit log alone (plus the gallery's current size), so it shows exactly what was
recorded: searches by purpose, nominations and their review, exports, erasures and purges, holds,
opt-outs, refusals, photos refused, failed logins and anomaly flags; and beside it the counts of
refused requests that named no one, which are counted, not audited (see
:mod:`facesearch.governance.attempts`). It is meant to be published, so it holds
counts and configured purpose names only: never a subject id or name, a probe hash, a case or
request reference, a free-text reason, or who acted.

:func:`build_report` is a pure function of the events; :func:`read_report` reads one period from a
session; :func:`write_report` writes the JSON and a self-contained HTML page.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.errors import InputError
from facesearch.gallery.schema import FaceRow, ImageRow, LegalHoldRow, OptOutRow, SubjectRow
from facesearch.governance import attempts, audit
from facesearch.governance.audit import AuditAction
from facesearch.reports import rendering
from facesearch.types import AuditEvent, Serialisable

JSON_NAME = "transparency.json"
HTML_NAME = "transparency.html"
NO_PURPOSE = "(none stated)"
PRIVACY_NOTE = (
    "Aggregates only: this report never names a subject, a searcher, a case or request reference, "
    "a probe photo or a free-text reason."
)


@dataclasses.dataclass(frozen=True)
class GalleryCounts(Serialisable):
    """What the gallery holds when the report is made (not during the period)."""

    subjects: int
    images: int
    faces: int
    subjects_on_hold: int
    opt_outs: int


@dataclasses.dataclass(frozen=True)
class SearchCounts(Serialisable):
    """Searches of one kind (identify or verify)."""

    total: int = 0
    by_purpose: Mapping[str, int] = dataclasses.field(default_factory=dict)
    cases: int = 0  # distinct cases searched for
    with_authorisation: int = 0  # searches that cited an authorisation reference
    suppressed_candidates: int = 0  # candidates withheld because the person opted out


@dataclasses.dataclass(frozen=True)
class ReviewCounts(Serialisable):
    """The two-person review of candidates: nominations, decisions, outcomes, exports."""

    nominations: int = 0
    nominated_cases: int = 0
    confirm_decisions: int = 0
    reject_decisions: int = 0
    reached_confirmed: int = 0  # nominations whose second confirmation came in the period
    reached_rejected: int = 0
    exports: int = 0
    exported_identifications: int = 0


@dataclasses.dataclass(frozen=True)
class RemovalCounts(Serialisable):
    """Data destroyed on request (erasures) or on expiry (purges), and legal holds that stop it."""

    erasures: int = 0
    erased_images: int = 0
    erased_faces: int = 0
    purges: int = 0
    purged_subjects: int = 0
    purged_images: int = 0
    purged_faces: int = 0
    held_images_kept: int = 0  # expired images a purge kept because of a legal hold
    purged_probe_faces: int = 0  # searched faces kept for review, destroyed with their dormant case
    holds_placed: int = 0
    holds_released: int = 0
    opt_outs_recorded: int = 0


@dataclasses.dataclass(frozen=True)
class OversightCounts(Serialisable):
    """Requests refused, failed logins, photos refused, anomaly flags and subject access reports
    (all audited), and the refused requests that named no one (only counted)."""

    refusals: int = 0
    refusals_by_permission: Mapping[str, int] = dataclasses.field(default_factory=dict)
    refusals_by_rule: Mapping[str, int] = dataclasses.field(default_factory=dict)
    failed_authentications: int = 0  # tokens, web sessions and activation codes the gallery issued, refused
    failed_authentications_by_reason: Mapping[str, int] = dataclasses.field(default_factory=dict)
    photos_refused: int = 0  # searches and enrollments of identified users refused for their photo
    photos_refused_by_reason: Mapping[str, int] = dataclasses.field(default_factory=dict)
    flags_by_kind: Mapping[str, int] = dataclasses.field(default_factory=dict)
    subject_access_reports: int = 0
    # Not audited: refused requests that named no one (no credential, one never issued), counted by reason.
    unattributed_refusals: int = 0
    unattributed_by_reason: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TransparencyReport(Serialisable):
    """Use of the gallery from ``start`` through ``end`` (whole UTC days, both included)."""

    start: date
    end: date
    generated_at: datetime
    events: int  # audit events in the period
    identify: SearchCounts
    verify: SearchCounts
    review: ReviewCounts
    removals: RemovalCounts
    oversight: OversightCounts
    gallery: GalleryCounts | None = None
    note: str = PRIVACY_NOTE


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The half-open UTC interval [start 00:00, the day after end 00:00) that the days cover.

    Raises InputError when ``end`` precedes ``start``.
    """
    if end < start:
        raise InputError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


def _int(details: Mapping[str, Any], key: str) -> int:
    """An optional count from an event's details; anything missing or not a count is 0."""
    value = details.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _label(details: Mapping[str, Any], key: str) -> str | None:
    value = details.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _searches(found: list[AuditEvent]) -> SearchCounts:
    return SearchCounts(
        total=len(found),
        by_purpose=dict(sorted(Counter(e.purpose or NO_PURPOSE for e in found).items())),
        cases=len({e.case for e in found if e.case}),
        with_authorisation=sum(1 for e in found if _label(e.details, "authorisation")),
        suppressed_candidates=sum(_int(e.details, "suppressed") for e in found),
    )


def _by(found: list[AuditEvent], key: str) -> dict[str, int]:
    """How many events name each value of the detail KEY (a stable code, never free text)."""
    return dict(sorted(Counter(_label(e.details, key) or "unspecified" for e in found).items()))


def _photo_reasons(found: list[AuditEvent]) -> dict[str, int]:
    """Photos refused, by the code of the refusal: one per event, or an enroll-dir run's own tally."""
    counted: Counter[str] = Counter()
    for event in found:
        tally = event.details.get("by_reason")
        if isinstance(tally, Mapping):
            counted.update({str(k): v for k, v in tally.items() if isinstance(v, int) and not isinstance(v, bool)})
        else:
            counted[_label(event.details, "code") or "unspecified"] += 1
    return dict(sorted(counted.items()))


def _reached(decisions: list[AuditEvent], status: str) -> int:
    """Nominations a decision in the period brought to STATUS (each counted once)."""
    reached = {
        e.details.get("nomination_id", f"event {e.seq}") for e in decisions if e.details.get("status_after") == status
    }
    return len(reached)


def build_report(
    events: Iterable[AuditEvent],
    start: date,
    end: date,
    *,
    generated_at: datetime,
    gallery: GalleryCounts | None = None,
    unattributed: Mapping[str, int] | None = None,
) -> TransparencyReport:
    """Aggregate the events that fall within the period (others are ignored, so the whole log may
    be passed). Events may lack any optional detail: what is missing counts as nothing.
    ``unattributed``: the period's refused requests that named no one, by reason (they are counted,
    not audited)."""
    since, until = period_bounds(start, end)
    by_action: dict[str, list[AuditEvent]] = {}
    total = 0
    for event in events:
        if since <= event.ts < until:
            total += 1
            by_action.setdefault(event.action, []).append(event)

    def of(action: AuditAction) -> list[AuditEvent]:
        return by_action.get(action.value, [])

    decisions = of(AuditAction.CONFIRM) + of(AuditAction.REJECT)
    review = ReviewCounts(
        nominations=len(of(AuditAction.NOMINATE)),
        nominated_cases=len({e.case for e in of(AuditAction.NOMINATE) if e.case}),
        confirm_decisions=len(of(AuditAction.CONFIRM)),
        reject_decisions=len(of(AuditAction.REJECT)),
        reached_confirmed=_reached(decisions, "confirmed"),
        reached_rejected=_reached(decisions, "rejected"),
        exports=len(of(AuditAction.EXPORT)),
        exported_identifications=sum(_int(e.details, "count") for e in of(AuditAction.EXPORT)),
    )
    erasures, purges = of(AuditAction.ERASE), of(AuditAction.PURGE)
    removals = RemovalCounts(
        erasures=len(erasures),
        erased_images=sum(_int(e.details, "images_removed") for e in erasures),
        erased_faces=sum(_int(e.details, "faces_removed") for e in erasures),
        purges=len(purges),
        purged_subjects=sum(_int(e.details, "subjects_removed") for e in purges),
        purged_images=sum(_int(e.details, "images_removed") for e in purges),
        purged_faces=sum(_int(e.details, "faces_removed") for e in purges),
        held_images_kept=sum(_int(e.details, "held_images_kept") for e in purges),
        purged_probe_faces=sum(_int(e.details, "probe_faces_removed") for e in purges),
        holds_placed=len(of(AuditAction.HOLD_PLACE)),
        holds_released=len(of(AuditAction.HOLD_RELEASE)),
        opt_outs_recorded=len(of(AuditAction.OPT_OUT)),
    )
    refusals = of(AuditAction.REFUSED)
    # A role refusal names the permission(s) it lacked; a rule refusal names the rule.
    by_permission = Counter(p for e in refusals if (p := _label(e.details, "permission")))
    by_rule = Counter(
        _label(e.details, "rule") or "unspecified" for e in refusals if not _label(e.details, "permission")
    )
    failed = of(AuditAction.AUTH_FAILED) + of(AuditAction.ACTIVATION_FAILED)
    photos = of(AuditAction.PHOTO_REFUSED)
    unattributed = unattributed or {}
    oversight = OversightCounts(
        refusals=len(refusals),
        refusals_by_permission=dict(sorted(by_permission.items())),
        refusals_by_rule=dict(sorted(by_rule.items())),
        failed_authentications=len(failed),
        failed_authentications_by_reason=_by(failed, "reason"),
        photos_refused=sum(max(_int(e.details, "photos"), 1) for e in photos),
        photos_refused_by_reason=_photo_reasons(photos),
        flags_by_kind=_by(of(AuditAction.FLAGGED), "flag"),
        subject_access_reports=len(of(AuditAction.SUBJECT_REPORT)),
        unattributed_refusals=sum(unattributed.values()),
        unattributed_by_reason=dict(sorted(unattributed.items())),
    )
    return TransparencyReport(
        start=start,
        end=end,
        generated_at=generated_at,
        events=total,
        identify=_searches(of(AuditAction.IDENTIFY)),
        verify=_searches(of(AuditAction.VERIFY)),
        review=review,
        removals=removals,
        oversight=oversight,
        gallery=gallery,
    )


def gallery_counts(session: Session) -> GalleryCounts:
    """How many subjects, images, faces, subjects under an unreleased legal hold and opt-outs the gallery holds."""

    def count(column: Any) -> int:
        return session.scalar(select(func.count(column))) or 0

    active_holds = select(func.count(func.distinct(LegalHoldRow.subject_id))).where(LegalHoldRow.released_at.is_(None))
    return GalleryCounts(
        subjects=count(SubjectRow.id),
        images=count(ImageRow.id),
        faces=count(FaceRow.id),
        subjects_on_hold=session.scalar(active_holds) or 0,
        opt_outs=count(OptOutRow.id),
    )


def read_report(session: Session, start: date, end: date, *, now: datetime | None = None) -> TransparencyReport:
    """The report for the days START through END, read from the audit log in SESSION and the counts
    of refused requests that named no one (the caller authorises and audits the request, and
    writes the counts still in memory first; see ``Engine.transparency_report``)."""
    since, until = period_bounds(start, end)
    found = audit.events(session, since=since, until=until)
    return build_report(
        found,
        start,
        end,
        generated_at=now or datetime.now(UTC),
        gallery=gallery_counts(session),
        unattributed=attempts.counted(session, start, end),
    )


def to_json(report: TransparencyReport) -> str:
    return json.dumps(report.to_dict(), indent=1, ensure_ascii=False)


def write_report(report: TransparencyReport, folder: Path) -> tuple[Path, Path]:
    """``transparency.html`` and ``transparency.json`` in ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    html_path, json_path = folder / HTML_NAME, folder / JSON_NAME
    json_path.write_text(to_json(report) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return html_path, json_path


def render_html(report: TransparencyReport) -> str:
    """The report as one self-contained HTML page (template ``transparency.html``)."""
    return rendering.render("transparency.html", report=report, generated_utc=report.generated_at.astimezone(UTC))
