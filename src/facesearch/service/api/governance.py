"""The gallery's rules: retention and purge, legal holds, allowed purposes, users and tokens."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch.governance.accounts import IssuedToken
from facesearch.governance.purposes import AllowedPurpose
from facesearch.governance.retention import LegalHold, PurgeCertificate
from facesearch.governance.users import User
from facesearch.service.api.schemas import (
    Disabled,
    HoldRequest,
    PurgeRequest,
    PurposeRequest,
    Released,
    RetentionChange,
    RetentionPeriod,
    RetentionSet,
    Revoked,
    UserRequest,
)
from facesearch.service.auth import Acting
from facesearch.service.rendering import UtcRoute

router = APIRouter(route_class=UtcRoute)


@router.get("/retention", tags=["retention"], summary="The retention period")
def retention(engine: Acting) -> RetentionPeriod:
    return RetentionPeriod(days=engine.retention.period())


@router.put(
    "/retention",
    tags=["retention"],
    summary="Set the retention period",
    description="Admins. The gallery takes no enrollment before it has one.",
)
def set_retention(engine: Acting, body: RetentionChange) -> RetentionSet:
    return RetentionSet(days=body.days, images_dated=engine.retention.set_period(body.days))


@router.post(
    "/purge",
    tags=["retention"],
    summary="Destroy every photo past its retain-until date now",
    description="Admins; the answer is the destruction certificate. Photos of held subjects are kept.",
)
def purge(engine: Acting, body: PurgeRequest | None = None) -> PurgeCertificate:
    return engine.retention.purge(reason=body.reason if body else PurgeRequest().reason)


@router.get("/holds", tags=["retention"], summary="Active legal holds", description="Admins and auditors.")
def holds(engine: Acting) -> list[LegalHold]:
    return engine.retention.holds()


@router.post(
    "/holds",
    tags=["retention"],
    summary="Place a legal hold: the subject's data is neither purged nor erased until released",
    description="Admins.",
    status_code=201,
)
def hold(engine: Acting, body: HoldRequest) -> LegalHold:
    return engine.retention.hold(body.subject, reference=body.reference)


@router.post("/holds/release", tags=["retention"], summary="Release a legal hold", description="Admins.")
def release(engine: Acting, body: HoldRequest) -> Released:
    released = engine.retention.release(body.subject, reference=body.reference)
    return Released(subject=body.subject, reference=body.reference, released=released)


@router.get("/purposes", tags=["purposes"], summary="The purposes searches may serve")
def purposes(engine: Acting) -> list[AllowedPurpose]:
    return engine.purposes.list()


@router.post(
    "/purposes", tags=["purposes"], summary="Allow searches for a purpose", description="Admins.", status_code=201
)
def add_purpose(engine: Acting, body: PurposeRequest) -> AllowedPurpose:
    return engine.purposes.add(body.name, require_authorisation=body.require_authorisation)


@router.delete(
    "/purposes/{name}",
    tags=["purposes"],
    summary="Stop allowing searches for a purpose",
    description="Admins.",
    status_code=204,
)
def remove_purpose(engine: Acting, name: str) -> None:
    engine.purposes.remove(name)


@router.get(
    "/users", tags=["accounts"], summary="Users, their roles and whether they are disabled", description="Admins."
)
def users(engine: Acting) -> list[User]:
    return engine.accounts.users()


@router.post("/users", tags=["accounts"], summary="Add a user with one role", description="Admins.", status_code=201)
def add_user(engine: Acting, body: UserRequest) -> User:
    return engine.accounts.add_user(body.name, body.role)


@router.post(
    "/users/{name}/disable",
    tags=["accounts"],
    summary="Disable a user and revoke their tokens",
    description="Admins; the user's audit history stays.",
)
def disable_user(engine: Acting, name: str) -> Disabled:
    return Disabled(user=name, tokens_revoked=engine.accounts.disable_user(name))


@router.post(
    "/users/{name}/tokens",
    tags=["accounts"],
    summary="Issue an API token for a user",
    description="Admins. The token is in this answer only; the gallery keeps its salted hash.",
    status_code=201,
)
def issue_token(engine: Acting, name: str) -> IssuedToken:
    return engine.accounts.issue_token(name)


@router.delete("/tokens/{token_id}", tags=["accounts"], summary="Revoke an API token", description="Admins.")
def revoke_token(engine: Acting, token_id: str) -> Revoked:
    return Revoked(token_id=token_id.strip(), user=engine.accounts.revoke_token(token_id))
