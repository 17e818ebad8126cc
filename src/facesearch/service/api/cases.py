"""Casework: a candidate is nominated by an operator and becomes actionable only once two other
verifiers have each confirmed it; verifiers decide blind, seeing the probe face beside the
candidate's enrolled faces. Only confirmed identifications export, and only a case's members work
it (admins and auditors read every case)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from facesearch.governance.casework import CaseExport, DecisionRecord, Nomination, RecordedDecision
from facesearch.governance.membership import CaseFile
from facesearch.governance.sweeps import CollectionSweep
from facesearch.service.api.schemas import MAX_ID, CaseMemberRequest, NominationRequest, Note, Reason
from facesearch.service.auth import Acting
from facesearch.service.problems import problem

router = APIRouter(tags=["cases"])

NominationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The nomination's number.")]


@router.post(
    "/nominations",
    summary="Nominate a candidate of an identify search for confirmation",
    description="Operators. It needs two separate confirmations by other verifiers before anyone may act on it.",
    status_code=201,
)
def nominate(engine: Acting, body: NominationRequest) -> Nomination:
    return engine.cases.nominate(body.search, body.subject, face_index=body.face - 1)


@router.get(
    "/queue",
    summary="Nominations awaiting your decision",
    description="Verifiers. Blind: no status and nothing of any other verifier's decision.",
)
def queue(engine: Acting) -> list[Nomination]:
    return engine.cases.queue()


@router.get(
    "/cases",
    summary="The cases you read, most recently opened first",
    description="Operators: the cases they are a member of; admins and auditors: every case. 'limit' and "
    "'offset' page through them.",
)
def cases(
    engine: Acting,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many cases.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Skip this many cases first.")] = 0,
) -> list[CaseFile]:
    return engine.cases.cases(limit=limit, offset=offset)


@router.post(
    "/nominations/{nomination_id}/confirm",
    summary="Confirm a nomination",
    description="Verifiers; it becomes a confirmed identification once two verifiers have.",
)
def confirm(engine: Acting, nomination_id: NominationId, body: Note | None = None) -> RecordedDecision:
    return engine.cases.confirm(nomination_id, note=body.note if body else None)


@router.post(
    "/nominations/{nomination_id}/reject",
    summary="Reject a nomination, giving the reason",
    description="Verifiers; one rejection ends it.",
)
def reject(engine: Acting, nomination_id: NominationId, body: Reason) -> RecordedDecision:
    return engine.cases.reject(nomination_id, reason=body.reason)


@router.get(
    "/nominations/{nomination_id}/probe",
    summary="The probe face a nomination was made for",
    description="The kept JPEG crop of the searched face, to compare with the candidate's enrolled faces "
    "(/api/faces/{id}/thumbnail). Verifiers, for the nominations awaiting their decision; the case's "
    "members; admins. Every view is audited (probe.view).",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The probe face's crop."}},
)
def probe(engine: Acting, nomination_id: NominationId) -> Response:
    data = engine.cases.probe_face(nomination_id)
    if data is None:
        return problem(404, "no-crop", f"no probe face is kept for nomination #{nomination_id}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.get(
    "/nominations/{nomination_id}/decisions",
    summary="Who decided what on a nomination",
    description="Auditors only.",
)
def decisions(engine: Acting, nomination_id: NominationId) -> list[DecisionRecord]:
    return list(engine.cases.decisions(nomination_id))


@router.get(
    "/cases/{case}/nominations",
    summary="The nominations of a case and their status",
    description="The case's members, admins and auditors.",
)
def case_nominations(engine: Acting, case: str) -> list[Nomination]:
    return engine.cases.case(case)


@router.get(
    "/cases/{case}/sweeps",
    summary="The collection sweeps kept in a case: candidates per cluster",
    description="Oldest first; each cluster's candidates (not identifications) and the search_seq to nominate "
    "them from. The case's members, admins and auditors.",
)
def case_sweeps(engine: Acting, case: str) -> list[CollectionSweep]:
    return engine.cases.sweeps(case)


@router.get(
    "/cases/{case}/members",
    summary="Who owns and works a case",
    description="The case's members, admins and auditors.",
)
def case_members(engine: Acting, case: str) -> CaseFile:
    return engine.cases.members(case)


@router.post(
    "/cases/{case}/members",
    summary="Add an operator to a case's members",
    description="The case's owner or an admin. Members search under the case, nominate from its searches, "
    "read and export it. Audited (case.add_member).",
    status_code=201,
)
def add_case_member(engine: Acting, case: str, body: CaseMemberRequest) -> CaseFile:
    return engine.cases.add_member(case, body.user)


@router.get(
    "/cases/{case}/export",
    summary="Export a case's identifications confirmed by two verifiers",
    description="The case's members (operators). Only confirmed identifications; each with who confirmed it "
    "and when; beside them the collection sweeps kept in the case, their candidates per cluster (unconfirmed "
    "leads, said so). Audited.",
)
def export(
    engine: Acting,
    case: str,
    nomination: Annotated[
        list[int] | None, Query(description="Export only these nominations (each must be confirmed).")
    ] = None,
) -> CaseExport:
    return engine.cases.export(case, nominations=nomination)
