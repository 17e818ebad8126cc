"""The gallery: enrollment, subjects, subject access reports, erasure, face crops and opt-outs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from facesearch.governance.optout import OptOut
from facesearch.service.api.schemas import MAX_ID, Reason
from facesearch.service.auth import Acting
from facesearch.service.problems import problem
from facesearch.service.uploads import read_photo
from facesearch.types import EnrollResult, ErasureResult, SubjectReport, SubjectSummary

router = APIRouter()


@router.post(
    "/enroll",
    tags=["gallery"],
    summary="Enroll one or more photos of one subject",
    description="Each photo must hold exactly one usable face; if any is refused, nothing is stored. "
    "Provenance (source and lawful basis) is required. Enrollers.",
)
async def enroll(
    engine: Acting,
    files: Annotated[list[UploadFile], File(description="The subject's photos (one face each).")],
    subject: Annotated[str, Form(description="The subject's name.")] = "",
    source: Annotated[str, Form(description="Where the photos came from.")] = "",
    basis: Annotated[str, Form(description="The lawful basis (consent, public-task, ...).")] = "",
    retain_until: Annotated[str | None, Form(description="Keep until this day (YYYY-MM-DD).")] = None,
) -> EnrollResult:
    photos = [await read_photo(f, engine.settings, f"files[{n}]") for n, f in enumerate(files)]
    return await run_in_threadpool(
        engine.enroll, photos, subject=subject, source=source, basis=basis, retain_until=retain_until or None
    )


@router.get("/subjects", tags=["gallery"], summary="Every enrolled subject with image and face counts")
def subjects(engine: Acting) -> list[SubjectSummary]:
    return engine.subjects()


@router.get(
    "/subjects/{subject}/report",
    tags=["gallery"],
    summary="Subject access report: everything held about a subject and every search that returned them",
    description="Admins and auditors; making the report is audited.",
)
def subject_report(engine: Acting, subject: str) -> SubjectReport:
    return engine.subject_report(subject)


@router.post(
    "/subjects/{subject}/erase",
    tags=["gallery"],
    summary="Erase a subject: rows, templates, crops and index entries destroyed",
    description="Admins; refused while a legal hold stands. The answer is the proof of erasure.",
)
def erase(engine: Acting, subject: str, body: Reason) -> ErasureResult:
    return engine.erase(subject, reason=body.reason)


@router.get(
    "/faces/{face_id}/thumbnail",
    tags=["gallery"],
    summary="The JPEG crop kept of an enrolled face",
    description="For review screens (operators, verifiers, admins); every view is audited.",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The face's crop."}},
)
def thumbnail(engine: Acting, face_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    data = engine.face_thumbnail(face_id)
    if data is None:
        return problem(404, "no-crop", f"no crop is kept of face #{face_id}")
    return Response(data, media_type="image/jpeg")


@router.get("/opt-outs", tags=["opt-outs"], summary="The do-not-enroll list: references and dates, never faces")
def opt_outs(engine: Acting) -> list[OptOut]:
    return engine.opt_outs.list()


@router.post(
    "/opt-outs",
    tags=["opt-outs"],
    summary="Put a person on the do-not-enroll list",
    description="Only their template is kept, no name; their face is neither enrolled nor returned by "
    "searches from then on. Enrollers.",
    status_code=201,
)
async def record_opt_out(
    engine: Acting,
    file: Annotated[UploadFile, File(description="A photo of the person (exactly one usable face).")],
    request: Annotated[str, Form(description="The reference of the person's request.")] = "",
) -> OptOut:
    photo = await read_photo(file, engine.settings, "file")
    return await run_in_threadpool(engine.opt_outs.record, photo, request_ref=request)
