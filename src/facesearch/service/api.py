"""The REST API under ``/api/``: every core action, JSON in and out, photos as multipart uploads.

The routes hold no rules: each authenticates the request's token, calls the engine acting for
its user (which checks the role matrix, the purpose binding, holds and quotas, and audits), and
renders the core's result. Errors become problem bodies (:mod:`facesearch.service.problems`)."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch.policy import ROLE_MATRIX
from facesearch.service import api_cases, api_collections, api_gallery, api_governance, api_reports, api_search
from facesearch.service.auth import CurrentUser
from facesearch.service.schemas import PROBLEMS, Me

router = APIRouter(responses=PROBLEMS)


@router.get("/me", tags=["accounts"], summary="Who the token acts for, with their role and permissions")
def me(user: CurrentUser) -> Me:
    permissions = sorted(p.value for p in ROLE_MATRIX[user.role])
    return Me(name=user.name, role=user.role.value, permissions=permissions)


for module in (api_search, api_gallery, api_cases, api_collections, api_governance, api_reports):
    router.include_router(module.router)
