"""The REST API under ``/api/``: every core action, JSON in and out, photos as multipart uploads.

The routes hold no rules: each authenticates the request's token, calls the engine acting for
its user (which checks the role matrix, the purpose binding, holds and quotas, and audits), and
renders the core's result. Errors become problem bodies (:mod:`facesearch.service.problems`)."""

from __future__ import annotations

from fastapi import APIRouter

from facesearch.governance.policy import ROLE_MATRIX
from facesearch.service.api import cases as api_cases
from facesearch.service.api import clusters as api_collections
from facesearch.service.api import gallery as api_gallery
from facesearch.service.api import governance as api_governance
from facesearch.service.api import oversight as api_reports
from facesearch.service.api import search as api_search
from facesearch.service.api.schemas import PROBLEMS, Me
from facesearch.service.auth import CurrentUser

router = APIRouter(responses=PROBLEMS)


@router.get("/me", tags=["accounts"], summary="Who the token acts for, with their role and permissions")
def me(user: CurrentUser) -> Me:
    permissions = sorted(p.value for p in ROLE_MATRIX[user.role])
    return Me(name=user.name, role=user.role.value, permissions=permissions)


for module in (api_search, api_gallery, api_cases, api_collections, api_governance, api_reports):
    router.include_router(module.router)
