"""Searches: 1:N identify and 1:1 verify. Both answer with candidates and the threshold's meaning,
never an identity; both need an allowed purpose and a case (refusals are audited by the core)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from facesearch.service.auth import Acting
from facesearch.service.uploads import read_photo, read_probe
from facesearch.types import IdentifyResult, SearchRequest, VerifyResult

router = APIRouter(tags=["search"])

Purpose = Annotated[str, Form(description="Why you search: one of the gallery's allowed purposes.")]
Case = Annotated[str, Form(description="The case the search is for.")]
Authorisation = Annotated[
    str | None, Form(description="The authorisation reference (a warrant...), where the purpose requires one.")
]


@router.post(
    "/identify",
    summary="1:N search: candidate subjects for each face of a photo, or each track of a face in a video",
    description="Candidates, not identifications: a score above the threshold means the faces are alike, "
    "not that they are the same person. Acting on a candidate takes a nomination and two separate "
    "confirmations. Operators; every search is audited with its purpose and case.",
)
async def identify(
    engine: Acting,
    file: Annotated[
        UploadFile,
        File(
            description="The probe photo (JPEG, PNG, ...) or video (MP4/MOV, MKV/WebM, AVI: candidates per "
            "track of a face, each citing the time of its frame)."
        ),
    ],
    purpose: Purpose = "",
    case: Case = "",
    authorisation: Authorisation = None,
    top_k: Annotated[int | None, Form(ge=1, le=1000, description="Candidates per face.")] = None,
) -> IdentifyResult:
    async with read_probe(file, engine.settings, "file") as probe:
        request = SearchRequest(purpose, case, authorisation or None, top_k)
        return await run_in_threadpool(engine.identify, probe, request)


@router.post(
    "/verify",
    summary="1:1 comparison of the main face of two photos",
    description="'same_person' means the score reaches the operating threshold: a likelihood, not proof. "
    "Operators; bound to a purpose and a case like identify.",
)
async def verify(
    engine: Acting,
    file_a: Annotated[UploadFile, File(description="The first photo.")],
    file_b: Annotated[UploadFile, File(description="The second photo.")],
    purpose: Purpose = "",
    case: Case = "",
    authorisation: Authorisation = None,
) -> VerifyResult:
    a = await read_photo(file_a, engine.settings, "file_a")
    b = await read_photo(file_b, engine.settings, "file_b")
    return await run_in_threadpool(engine.verify, a, b, SearchRequest(purpose, case, authorisation or None))
