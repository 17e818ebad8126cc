"""Request bodies and the API's own small answers. The core's result dataclasses are used as
response models directly, so ``/openapi.json`` describes exactly what the core returns."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

# Ids are SQLite/PostgreSQL integers: anything larger cannot name a row.
MAX_ID = 2**62


class Problem(BaseModel):
    """An RFC 9457 problem: ``code`` (and ``type``, ``urn:facesearch:problem:<code>``) names the
    problem, ``detail`` says what went wrong."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {"application/problem+json": {}}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("The request cannot be carried out."),
    401: _problem("No valid API token (send 'Authorization: Bearer <token>'; cookies are not read under /api/)."),
    403: _problem("Refused under a rule of accountable use (role, purpose, legal hold...); audited."),
    404: _problem("No such subject, nomination, case, face or resource."),
    409: _problem("The gallery's state does not allow it."),
    413: _problem("The request body or an uploaded photo is larger than allowed."),
    422: _problem("A value or an uploaded photo cannot be used (malformed, no usable face...)."),
    429: _problem("The user's search quota is used up."),
}


class Me(BaseModel):
    name: str = Field(description="The user the token acts for.")
    role: str
    permissions: list[str] = Field(description="What the role may do (the gallery's role matrix).")


class Reason(BaseModel):
    reason: str = Field(description="Why (kept in the audit log).")


class Note(BaseModel):
    note: str | None = Field(default=None, description="Why you confirm (kept with your decision).")


class NominationRequest(BaseModel):
    search: int = Field(ge=1, le=MAX_ID, description="The identify search's number (its audit_seq).")
    subject: str = Field(description="The candidate subject (name or id).")
    face: int = Field(default=1, ge=1, le=1_000_000, description="Which probe face (1 = the first).")


class CaseMemberRequest(BaseModel):
    user: str = Field(min_length=1, max_length=256, description="The operator to add to the case.")


class RetentionPeriod(BaseModel):
    days: int | None = Field(description="Keep each photo at most this many days; null: none set (no enrollment).")


class RetentionChange(BaseModel):
    days: int = Field(ge=1, le=1_000_000, description="The new retention period in days.")


class RetentionSet(BaseModel):
    days: int
    images_dated: int = Field(description="Earlier photos dated from their enrollment.")


class PurgeRequest(BaseModel):
    reason: str = Field(default="retention period expired", description="Recorded in the certificate.")


class HoldRequest(BaseModel):
    subject: str = Field(description="The subject (name or id).")
    reference: str = Field(description="The hold's reference, e.g. a court order number.")


class Released(BaseModel):
    subject: str
    reference: str
    released: int = Field(description="How many holds were released.")


class PurposeRequest(BaseModel):
    name: str = Field(description="The purpose, as searches will name it.")
    require_authorisation: bool = Field(
        default=False, description="Searches for it must carry an authorisation reference."
    )


class UserRequest(BaseModel):
    name: str
    role: str = Field(description="admin, enroller, operator, verifier or auditor.")


class ActivationRequest(BaseModel):
    code: str = Field(max_length=200, description="The one-time activation code an admin gave you (fsa_...).")


class Disabled(BaseModel):
    user: str
    tokens_revoked: int


class Revoked(BaseModel):
    token_id: str
    user: str


class Evaluation(BaseModel):
    model_id: str
    latest: dict[str, Any] | None = Field(
        description="The newest 'facesearch evaluate' summary recorded for this model in the gallery's home, "
        "or null when none was run."
    )


class ClusterSearch(BaseModel):
    purpose: str = Field(default="", description="Why you search: one of the gallery's allowed purposes.")
    case: str = Field(default="", description="The case the search is for.")
    authorisation: str | None = Field(default=None, description="Where the purpose requires one.")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="Candidates to return.")


class ClusterMerge(BaseModel):
    cluster_a: int = Field(ge=1, le=MAX_ID)
    cluster_b: int = Field(ge=1, le=MAX_ID)


class ClusterSplit(BaseModel):
    faces: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(description="The faces to move to a new cluster.")


class ClusterLabel(BaseModel):
    label: str


class CannotLink(BaseModel):
    face_a: int = Field(ge=1, le=MAX_ID)
    face_b: int = Field(ge=1, le=MAX_ID)


class CollectionDeleted(BaseModel):
    collection: str
    faces_removed: int
