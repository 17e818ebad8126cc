"""The gallery's rules: retention and purge, legal holds, allowed purposes; users, activation codes and tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from facesearch.governance.credentials import ActivationCode, IssuedToken, TokenInfo
from facesearch.governance.purposes import AllowedPurpose
from facesearch.governance.retention import LegalHold, PurgeCertificate
from facesearch.governance.users import User
from facesearch.service.api.schemas import (
    ActivationRequest,
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
from facesearch.service.auth import Acting, engine_of, presented_token

router = APIRouter()


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
    summary="Disable a user: their tokens are revoked, web sessions ended, unused activation codes withdrawn",
    description="Admins; the user's audit history stays.",
)
def disable_user(engine: Acting, name: str) -> Disabled:
    return Disabled(user=name, tokens_revoked=engine.accounts.disable_user(name))


@router.post(
    "/users/{name}/invite",
    tags=["accounts"],
    summary="Issue a one-time activation code for a user",
    description="Admins. Give the code to the user: they exchange it (POST /api/activate) for a token that only "
    "they see. It works once, within 72 hours; a newer code withdraws an unused older one. Only its hash is kept.",
    status_code=201,
)
def invite(engine: Acting, name: str) -> ActivationCode:
    return engine.accounts.invite(name)


@router.post(
    "/activate",
    tags=["accounts"],
    summary="Exchange your activation code for your own API token",
    description="No token needed: the code is the credential. The token is in this answer only; the gallery "
    "keeps its salted hash. A code already used, withdrawn or expired is 401 (activation-failed), audited; one "
    "the gallery never issued is 401 too, counted (unknown-code), not audited.",
    status_code=201,
)
def activate(request: Request, body: ActivationRequest) -> IssuedToken:
    return engine_of(request).signin.redeem(body.code)


@router.post(
    "/tokens/rotate",
    tags=["accounts"],
    summary="Replace your token with a new one",
    description="Any user, for the token this request carries: it is revoked (and the web sessions begun with "
    "it end) and a new one, valid for the gallery's token_days, is in this answer only.",
    status_code=201,
)
def rotate_token(request: Request, token: Annotated[str, Depends(presented_token)]) -> IssuedToken:
    return engine_of(request).signin.rotate(token)


@router.get(
    "/tokens",
    tags=["accounts"],
    summary="Every token: whose, when made and by whom, expiry, revocation (never a secret)",
    description="Admins.",
)
def tokens(engine: Acting) -> list[TokenInfo]:
    return engine.accounts.tokens()


@router.delete(
    "/tokens/{token_id}",
    tags=["accounts"],
    summary="Revoke an API token",
    description="Admins. The web sessions begun with it end.",
)
def revoke_token(engine: Acting, token_id: str) -> Revoked:
    return Revoked(token_id=token_id.strip(), user=engine.accounts.revoke_token(token_id))
