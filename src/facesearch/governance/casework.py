"""Acting on a candidate takes two separate confirmations (EU AI Act art. 14(5)).

An operator *nominates* a candidate from an identify search. It becomes a confirmed identification
only after two different verifiers, neither of them the one who nominated it nor the one who ran
the search, have each confirmed it; either of them may reject it, which ends it. A verifier sees
the nominations awaiting their decision with nothing of anyone else's decision (not even whether
there is one), decides once, and is told only that their decision was recorded. Only confirmed
identifications can be exported for a case. Every step is an audit event naming the person.

Who works a case is :mod:`facesearch.governance.membership`: only the case's members nominate from
its searches, read its nominations and export it (admins and auditors read every case). Verifiers
are the independent check: they decide the nominations in their queue whatever the case, and are
never members of one. A verifier sees, beside the candidate's enrolled faces, the probe face the
nomination was made for (:mod:`facesearch.governance.probes`); every view of either is audited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facesearch.errors import (
    ConfirmationError,
    InputError,
    NominationNotFoundError,
    NotConfirmedError,
)
from facesearch.gallery.schema import (
    AuditEventRow,
    FaceRow,
    ImageRow,
    NominationDecisionRow,
    NominationRow,
    SubjectRow,
)
from facesearch.governance import audit, membership, probes, sweeps
from facesearch.governance.audit import AuditAction
from facesearch.governance.membership import CaseFile
from facesearch.governance.policy import ROLE_MATRIX, TEXT_MAX_CHARS, Permission, clean_text
from facesearch.governance.sweeps import CollectionSweep
from facesearch.governance.users import find_user
from facesearch.types import Serialisable

if TYPE_CHECKING:
    from facesearch.governance.context import Context

CONFIRMATIONS_NEEDED = 2
# The roles that may read a case's files, its membership checked as well (see CaseService._reading).
CASE_READERS = (Permission.NOMINATE, Permission.EXPORT, Permission.MANAGE_GALLERY, Permission.READ_AUDIT)


class Status(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Decision(enum.StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"


@dataclasses.dataclass(frozen=True)
class Nomination(Serialisable):
    """A nominated candidate as an operator or a verifier sees it: never the decisions on it."""

    nomination_id: int
    case: str
    purpose: str
    search_seq: int
    probe_sha256: str | None
    face_index: int
    subject: str
    subject_id: str
    score: float
    nominated_by: str
    nominated_at: datetime
    status: Status | None  # None in a verifier's queue: they decide blind
    audit_seq: int | None = None
    # The candidate's enrolled faces whose crop the gallery keeps (setting keep_crops), for review
    # screens to show through Engine.face_thumbnail; empty when none is kept.
    face_ids: tuple[int, ...] = ()
    # Whether the crop of the probe face it was nominated for is kept (CaseService.probe_face): not
    # for searches from before it was kept, nor once its case's retention has run out.
    probe_kept: bool = False


@dataclasses.dataclass(frozen=True)
class RecordedDecision(Serialisable):
    """What a verifier is told after deciding: their own decision, nothing of the other's."""

    nomination_id: int
    decision: Decision
    verifier: str
    decided_at: datetime
    audit_seq: int


@dataclasses.dataclass(frozen=True)
class DecisionRecord(Serialisable):
    """One verifier's decision, as auditors see it."""

    verifier: str
    decision: Decision
    note: str | None
    decided_at: datetime


@dataclasses.dataclass(frozen=True)
class ExportedIdentification(Serialisable):
    nomination: Nomination
    confirmations: tuple[DecisionRecord, ...]


SWEEPS_NOTICE = (
    "the collection sweeps list candidates per cluster as the searches found them: leads for a person "
    "to compare, not identifications; only the identifications above were confirmed by two verifiers"
)


@dataclasses.dataclass(frozen=True)
class CaseExport(Serialisable):
    """The confirmed identifications of one case, each with who confirmed it and when; and the
    collection sweeps kept in it, their candidates per cluster (unconfirmed leads, said so)."""

    case: str
    exported_at: datetime
    exported_by: str
    identifications: tuple[ExportedIdentification, ...]
    audit_seq: int
    notice: str = (
        "each identification was nominated by an operator and confirmed separately by two other "
        "verifiers; it remains a human judgement supported by face comparison, not proof of identity"
    )
    sweeps: tuple[CollectionSweep, ...] = ()
    sweeps_notice: str = SWEEPS_NOTICE


def _search_event(session: Session, seq: int) -> AuditEventRow:
    row = session.get(AuditEventRow, seq)
    if row is None or row.action != AuditAction.IDENTIFY.value:
        raise NominationNotFoundError(f"audit event #{seq} is not an identify search")
    return row


def _views(session: Session, *where: ColumnElement[bool], status: bool) -> list[Nomination]:
    """Nominations matching ``where``, oldest first, each with its subject's name and probe hash;
    ``status=False`` leaves the status out (a verifier's blind view)."""
    rows = session.execute(
        select(NominationRow, SubjectRow.name, AuditEventRow.probe_sha256)
        .join(SubjectRow, NominationRow.subject_id == SubjectRow.id)
        .join(AuditEventRow, AuditEventRow.seq == NominationRow.search_seq)
        .where(*where)
        .order_by(NominationRow.id)
    ).all()
    cropped: dict[str, list[int]] = {}
    if rows:
        faces = session.execute(
            select(ImageRow.subject_id, FaceRow.id)
            .join(ImageRow, FaceRow.image_id == ImageRow.id)
            .where(ImageRow.subject_id.in_({row.subject_id for row, _, _ in rows}), FaceRow.crop_jpeg.is_not(None))
            .order_by(FaceRow.id)
        ).all()
        for subject_id, face_id in faces:
            cropped.setdefault(subject_id, []).append(face_id)
    kept = probes.kept(session, [(row.search_seq, row.face_index) for row, _, _ in rows])
    return [
        dataclasses.replace(
            _view(row, name, probe, status=status),
            face_ids=tuple(cropped.get(row.subject_id, ())),
            probe_kept=(row.search_seq, row.face_index) in kept,
        )
        for row, name, probe in rows
    ]


def _awaiting(actor: str) -> list[ColumnElement[bool]]:
    """What makes a nomination await ACTOR's decision: pending, not decided by them, neither
    nominated by them nor from their own search."""
    mine = select(NominationDecisionRow.nomination_id).where(NominationDecisionRow.verifier == actor)
    return [
        NominationRow.status == Status.PENDING.value,
        NominationRow.id.not_in(mine),
        NominationRow.nominated_by != actor,
        AuditEventRow.actor != actor,
    ]


def _require_nomination(session: Session, nomination_id: int) -> None:
    if not _views(session, NominationRow.id == nomination_id, status=False):
        raise NominationNotFoundError(f"there is no nomination #{nomination_id}")


def _view(row: NominationRow, name: str, probe: str | None, *, status: bool) -> Nomination:
    return Nomination(
        nomination_id=row.id,
        case=row.case_id,
        purpose=row.purpose,
        search_seq=row.search_seq,
        probe_sha256=probe,
        face_index=row.face_index,
        subject=name,
        subject_id=row.subject_id,
        score=row.score,
        nominated_by=row.nominated_by,
        nominated_at=row.nominated_at,
        status=Status(row.status) if status else None,
    )


def _decisions(session: Session, nomination_id: int) -> tuple[DecisionRecord, ...]:
    rows = session.scalars(
        select(NominationDecisionRow)
        .where(NominationDecisionRow.nomination_id == nomination_id)
        .order_by(NominationDecisionRow.id)
    )
    return tuple(DecisionRecord(r.verifier, Decision(r.decision), r.note, r.decided_at) for r in rows)


class CaseService:
    """Nominate, confirm or reject, and export, for the acting user."""

    def __init__(self, context: Context) -> None:
        self._context = context

    def nominate(self, search_seq: int, subject: str, *, face_index: int = 0) -> Nomination:
        """Put forward SUBJECT, a candidate for face ``face_index`` (0 = the first) of identify
        search ``search_seq`` (its audit number, ``IdentifyResult.audit_seq``), for confirmation."""
        context = self._context
        with context.guarded(Permission.NOMINATE) as session:
            search = _search_event(session, search_seq)
            membership.enter(session, context, search.case_id or "", "nominate from its searches")
            who = context.store.require_subject(session, subject)
            faces = audit.details_of(search).get("faces", [])
            if not 0 <= face_index < len(faces):
                raise InputError(f"search #{search_seq} has {len(faces)} face(s); there is no face {face_index + 1}")
            scores = [c["score"] for c in faces[face_index] if c["subject_id"] == who.subject_id]
            if not scores:
                raise InputError(f"{who.name!r} was not a candidate for face {face_index + 1} of search #{search_seq}")
            row = NominationRow(
                search_seq=search_seq,
                purpose=search.purpose or "",
                case_id=search.case_id or "",
                face_index=face_index,
                subject_id=who.subject_id,
                score=float(scores[0]),
                nominated_by=context.actor,
                nominated_at=datetime.now(UTC),
                status=Status.PENDING.value,
            )
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                raise InputError(
                    f"{who.name!r} is already nominated for face {face_index + 1} of search #{search_seq}"
                ) from None
            seq = context.record(
                session,
                AuditAction.NOMINATE,
                purpose=row.purpose,
                case=row.case_id,
                details={
                    "nomination_id": row.id,
                    "search_seq": search_seq,
                    "subject_id": who.subject_id,
                    "face_index": face_index,
                    "score": row.score,
                },
            )
            view = _view(row, who.name, search.probe_sha256, status=True)
        return dataclasses.replace(view, audit_seq=seq)

    def queue(self) -> list[Nomination]:
        """The nominations awaiting this verifier's decision, oldest first, blind: no status and
        nothing of any other verifier's decision. Their own nominations and searches are left out.
        Every case's nominations are listed: verifiers are the independent check, not members of a case."""
        context = self._context
        with context.guarded(Permission.CONFIRM) as session:
            return _views(session, *_awaiting(context.actor), status=False)

    def confirm(self, nomination_id: int, *, note: str | None = None) -> RecordedDecision:
        """Confirm a nomination (verifiers). It is confirmed once two verifiers have."""
        return self._decide(nomination_id, Decision.CONFIRM, clean_text(note, "note", TEXT_MAX_CHARS) or None)

    def reject(self, nomination_id: int, *, reason: str) -> RecordedDecision:
        """Reject a nomination (verifiers), giving the reason; one rejection ends it."""
        why = clean_text(reason, "reason", TEXT_MAX_CHARS)
        if not why:
            raise InputError("a rejection needs its reason (--reason)")
        return self._decide(nomination_id, Decision.REJECT, why)

    def _decide(self, nomination_id: int, decision: Decision, note: str | None) -> RecordedDecision:
        context = self._context
        with context.guarded(Permission.CONFIRM) as session:
            row = session.get(NominationRow, nomination_id)
            if row is None:
                raise NominationNotFoundError(f"there is no nomination #{nomination_id}")
            searcher = _search_event(session, row.search_seq).actor
            if context.actor in (row.nominated_by, searcher):
                role = "nominated this candidate" if context.actor == row.nominated_by else "ran the search"
                raise ConfirmationError(
                    f"refused: {context.actor!r} {role} (nomination #{nomination_id}); two other verifiers must decide"
                )
            if session.scalar(
                select(func.count())
                .select_from(NominationDecisionRow)
                .where(NominationDecisionRow.nomination_id == row.id, NominationDecisionRow.verifier == context.actor)
            ):
                raise ConfirmationError(
                    f"refused: {context.actor!r} has already decided on nomination #{nomination_id}; each verifier "
                    "decides once"
                )
            if row.status != Status.PENDING.value:
                raise ConfirmationError(f"refused: nomination #{nomination_id} is already {row.status}")
            now = datetime.now(UTC)
            session.add(
                NominationDecisionRow(
                    nomination_id=row.id, verifier=context.actor, decision=decision.value, note=note, decided_at=now
                )
            )
            session.flush()
            confirmations = session.scalar(
                select(func.count())
                .select_from(NominationDecisionRow)
                .where(
                    NominationDecisionRow.nomination_id == row.id,
                    NominationDecisionRow.decision == Decision.CONFIRM.value,
                )
            )
            membership.touch(session, context, row.case_id)  # a decision is work in the case
            if decision is Decision.REJECT:
                row.status, row.decided_at = Status.REJECTED.value, now
            elif (confirmations or 0) >= CONFIRMATIONS_NEEDED:
                row.status, row.decided_at = Status.CONFIRMED.value, now
            action = AuditAction.CONFIRM if decision is Decision.CONFIRM else AuditAction.REJECT
            seq = context.record(
                session,
                action,
                purpose=row.purpose,
                case=row.case_id,
                details={"nomination_id": row.id, "status_after": row.status, "note": note},
            )
        return RecordedDecision(nomination_id, decision, context.actor, now, seq)

    @contextlib.contextmanager
    def _reading(self, case_id: str, why: str) -> Iterator[Session]:
        """A locked transaction for reading CASE_ID's files, WHY (for the refusal): its members, admins
        and auditors; anyone else is refused (CaseMembershipError), audited."""
        context = self._context
        with context.guarded(*CASE_READERS) as s:
            membership.require_reader(s, context.actor, case_id, why)
            yield s

    def case(self, case: str) -> list[Nomination]:
        """The nominations of a case with their status: its members, admins and auditors; not
        verifiers, who decide blind. Anyone else is refused (CaseMembershipError), audited."""
        case_id = clean_text(case, "case")
        with self._reading(case_id, "read its nominations") as s:
            return _views(s, NominationRow.case_id == case_id, status=True)

    def cases(self, *, limit: int = 100, offset: int = 0) -> list[CaseFile]:
        """The cases the acting user reads, most recently opened first: the ones they are a member
        of (operators), every case (admins and auditors); verifiers, who work no case, are refused."""
        if limit < 1 or offset < 0:
            raise InputError("a page of cases needs a limit of at least 1 and an offset of at least 0")
        context = self._context
        with context.guarded(*CASE_READERS) as s:
            return membership.readable_cases(s, context.actor, limit=limit, offset=offset)

    def sweeps(self, case: str) -> list[CollectionSweep]:
        """The collection sweeps kept in a case, oldest first: each cluster's candidates and the
        search to nominate them from. For its members, admins and auditors, like its nominations."""
        case_id = clean_text(case, "case")
        with self._reading(case_id, "read its sweeps") as s:
            return sweeps.of_case(s, case_id)

    def members(self, case: str) -> CaseFile:
        """Who owns and works a case, and until when it keeps its probe faces: its members, admins
        and auditors; CaseNotFoundError for a case nobody has named."""
        case_id = clean_text(case, "case")
        with self._reading(case_id, "read its members") as s:
            return membership.case_file(s, case_id)

    def add_member(self, case: str, user: str) -> CaseFile:
        """Let USER, an operator, work CASE: search under it, nominate from its searches, read and
        export it. The case's owner or an admin only; audited (``case.add_member``)."""
        context = self._context
        with context.guarded(Permission.NOMINATE, Permission.MANAGE_GALLERY) as s:
            return membership.add_member(s, context, clean_text(case, "case"), user)

    def probe_face(self, nomination_id: int) -> bytes | None:
        """The JPEG crop of the probe face a nomination was made for, to compare with the candidate's
        enrolled faces (:meth:`facesearch.engine.Engine.face_thumbnail`); None if none is kept.
        Verifiers see it for the nominations awaiting their decision, whatever the case; operators for
        the cases they are members of; admins for any. Every view is audited (``probe.view``)."""
        context = self._context
        with context.guarded(Permission.CONFIRM, Permission.NOMINATE, Permission.MANAGE_GALLERY) as s:
            row = s.get(NominationRow, nomination_id)
            if row is None:
                raise NominationNotFoundError(f"there is no nomination #{nomination_id}")
            user = find_user(s, context.actor)
            assert user is not None  # guarded: an enabled user
            if Permission.CONFIRM in ROLE_MATRIX[user.role]:
                if not _views(s, NominationRow.id == nomination_id, *_awaiting(context.actor), status=False):
                    raise ConfirmationError(
                        f"refused: nomination #{nomination_id} is not awaiting your decision; a verifier sees "
                        "the probe faces of the nominations in their queue"
                    )
            elif not membership.oversees(user):
                membership.require_member(s, context.actor, row.case_id, "see its probe faces")
            crop = probes.crop(s, context.store, row.search_seq, row.face_index)
            if crop is not None:
                details = {"nomination_id": row.id, "search_seq": row.search_seq, "face_index": row.face_index}
                context.record(s, AuditAction.PROBE_VIEW, case=row.case_id, details=details)
            return crop

    def decisions(self, nomination_id: int) -> tuple[DecisionRecord, ...]:
        """Who decided what on a nomination: for auditors only."""
        with self._context.guarded(Permission.READ_AUDIT) as session:
            _require_nomination(session, nomination_id)
            return _decisions(session, nomination_id)

    def export(self, case: str, *, nominations: list[int] | None = None) -> CaseExport:
        """The confirmed identifications of CASE (or just ``nominations`` of it, every one of which
        must be confirmed); refused if there is none. The collection sweeps kept in the case are
        listed beside them, their candidates per cluster, marked as the unconfirmed leads they are."""
        context = self._context
        case_id = clean_text(case, "case")
        with context.guarded(Permission.EXPORT) as session:
            membership.require_member(session, context.actor, case_id, "export it")
            membership.touch(session, context, case_id)
            listed = {n.nomination_id: n for n in _views(session, NominationRow.case_id == case_id, status=True)}
            wanted = nominations if nominations is not None else sorted(listed)
            for nomination_id in wanted:
                item = listed.get(nomination_id)
                if item is None:
                    raise NominationNotFoundError(f"nomination #{nomination_id} is not part of case {case_id!r}")
                if nominations is not None and item.status is not Status.CONFIRMED:
                    raise NotConfirmedError(
                        f"export refused: nomination #{nomination_id} is {item.status}; only identifications "
                        f"confirmed by {CONFIRMATIONS_NEEDED} verifiers can be exported"
                    )
            chosen = [listed[i] for i in wanted if listed[i].status is Status.CONFIRMED]
            if not chosen:
                raise NotConfirmedError(
                    f"export refused: case {case_id!r} has no identification confirmed by "
                    f"{CONFIRMATIONS_NEEDED} verifiers"
                )
            items = tuple(
                ExportedIdentification(
                    n, tuple(d for d in _decisions(session, n.nomination_id) if d.decision is Decision.CONFIRM)
                )
                for n in chosen
            )
            ids = [n.nomination_id for n in chosen]
            swept = tuple(sweeps.of_case(session, case_id))
            details = {"nominations": ids, "count": len(ids), "sweeps": [s.sweep_id for s in swept]}
            seq = context.record(session, AuditAction.EXPORT, case=case_id, details=details)
        return CaseExport(case_id, datetime.now(UTC), context.actor, items, seq, sweeps=swept)
