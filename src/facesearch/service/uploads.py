"""Size-limited, streamed uploads: a request body larger than the limit is refused with 413 while it
streams (or at once, from its Content-Length), before it is parsed or stored anywhere."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import HTTPException, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facesearch.config import Settings
from facesearch.pipeline.decode import NamedPhoto
from facesearch.pipeline.video import VideoFile, looks_like_video

CHUNK = 1024 * 1024
# Room for the form's text fields and multipart boundaries beside the photos.
FORM_OVERHEAD = 256 * 1024


def request_limit(settings: Settings, files: int = 2) -> int:
    """The largest request body accepted: ``files`` photos of the largest size the decoder takes."""
    return files * settings.max_image_bytes + FORM_OVERHEAD


VIDEO_PATHS = ("/api/identify",)  # the routes that take a video: their bodies may reach max_video_bytes


def video_limits(settings: Settings) -> dict[str, int]:
    """The larger body limit of each route that takes a video."""
    return dict.fromkeys(VIDEO_PATHS, max(request_limit(settings), settings.max_video_bytes + FORM_OVERHEAD))


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413, counting as they stream."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}  # path -> its own limit (a video upload's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, self._detail(limit))
            return message

        await self.app(scope, counted, send)

    def _detail(self, limit: int) -> str:
        return f"the request body is larger than the {limit} bytes this service accepts here"

    async def _refuse(self, send: Send, limit: int) -> None:
        from facesearch.service.problems import problem

        response = problem(413, "request-too-large", self._detail(limit))
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


async def read_photo(upload: UploadFile, settings: Settings, field: str = "file") -> NamedPhoto:
    """An uploaded photo's bytes under its file name, read in chunks, reading no further than just
    past ``max_image_bytes``. Whether it is usable (empty, too large, malformed) is for the core to
    decide, after the user's role and the request's rules: it refuses it then, and audits the
    refusal as the user's (``photo.refused``)."""
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        parts.append(chunk)
        if size > settings.max_image_bytes:
            return NamedPhoto(
                b"".join(parts)[: settings.max_image_bytes + 1], upload_name(upload.filename, field), complete=False
            )
    return NamedPhoto(b"".join(parts), upload_name(upload.filename, field))


def upload_name(filename: str | None, field: str) -> str:
    """The client's file name, reduced to a plain base name (no folders, no control characters,
    at most 200 characters), or the form field's name when it sent none."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()[:200]
    return base if base not in ("", ".", "..") else field


@contextlib.asynccontextmanager
async def read_probe(
    upload: UploadFile, settings: Settings, field: str = "file"
) -> AsyncIterator[NamedPhoto | VideoFile]:
    """An uploaded probe: a photo's bytes (see :func:`read_photo`), or, when its name or first bytes
    say it is a video, the video copied in chunks to a temporary file (read no further than just past
    ``max_video_bytes``; the decoder streams it from there), removed when the block ends."""
    head = await upload.read(CHUNK)
    name = upload_name(upload.filename, field)
    if not looks_like_video(name, head[:12]):
        await upload.seek(0)
        yield await read_photo(upload, settings, field)
        return
    with tempfile.TemporaryDirectory(prefix="facesearch-upload-") as folder:
        path = Path(folder) / "probe"
        size, complete = 0, True
        with path.open("wb") as file:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > settings.max_video_bytes:
                    complete = False
                    break
                file.write(chunk)
                chunk = await upload.read(CHUNK)
        yield VideoFile(path, name, complete=complete)
