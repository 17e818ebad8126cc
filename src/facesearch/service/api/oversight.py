"""Oversight: the audit log and its chain, the transparency report, the latest evaluation and the
model card."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from facesearch.evaluation import history
from facesearch.reports.model_card import ModelCard, build_model_card
from facesearch.reports.transparency import TransparencyReport
from facesearch.service.api.schemas import MAX_ID, Evaluation
from facesearch.service.auth import Acting
from facesearch.types import AuditEvent, ChainReport

router = APIRouter()


@router.get(
    "/audit",
    tags=["audit"],
    summary="Audit events, oldest first",
    description="Auditors. Optionally of one action or case; 'after' and 'limit' page through the log.",
)
def audit_events(
    engine: Acting,
    action: Annotated[str | None, Query(description="Only events of this action (identify, enroll, ...).")] = None,
    case: Annotated[str | None, Query(description="Only events of this case.")] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Only events after this sequence number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many events.")] = 1000,
) -> list[AuditEvent]:
    return engine.audit_events(action=action or None, case=case or None, after=after, limit=limit)


@router.get(
    "/audit/verify",
    tags=["audit"],
    summary="Recompute the audit hash chain",
    description="Auditors and admins; 'ok' is false at the first event that was altered.",
)
def audit_verify(engine: Acting) -> ChainReport:
    return engine.audit_verify()


@router.get(
    "/reports/transparency",
    tags=["reports"],
    summary="Transparency report over whole UTC days, in aggregates only",
    description="Admins and auditors; making it is audited. 'oversight' holds the audited refusals by reason "
    "(permissions, rules, photos refused, failed authentications) and, in 'unattributed_by_reason', the refused "
    "requests that named no one (no credential, one never issued), which are counted, not audited.",
)
def transparency(
    engine: Acting,
    start: Annotated[date, Query(alias="from", description="First day of the period (YYYY-MM-DD, UTC).")],
    end: Annotated[date, Query(alias="to", description="Last day of the period, included.")],
) -> TransparencyReport:
    return engine.transparency_report(start, end)


@router.get(
    "/evaluation",
    tags=["reports"],
    summary="The latest evaluation recorded for the gallery's model",
    description="Read only: evaluations run from the command line ('facesearch evaluate'), on the server.",
)
def evaluation(engine: Acting) -> Evaluation:
    engine.calibration()  # any user of the gallery; a disabled or unknown one is refused and audited
    return Evaluation(
        model_id=engine.spec.model_id, latest=history.latest(engine.home.evaluations_dir, engine.spec.model_id)
    )


@router.get(
    "/model-card",
    tags=["reports"],
    summary="The model card: the model, its weights and licence, and what this tool measured",
)
async def model_card(engine: Acting) -> ModelCard:
    def card() -> ModelCard:
        latest = history.latest(engine.home.evaluations_dir, engine.spec.model_id)
        return build_model_card(engine.spec, latest_evaluation=latest, calibration=engine.calibration())

    return await run_in_threadpool(card)
