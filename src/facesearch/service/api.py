"""The REST API under ``/api/``: every core action, JSON in and out, photos as multipart uploads."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["api"])
