"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

import facesearch
from facesearch.engine import Engine
from facesearch.index.addlog import AddLog
from facesearch.index.base import unit_rows
from facesearch.index.files import file_context
from facesearch.types import Metric

SHARED_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


STAFF = {"enroller": "enroller", "operator": "operator", "verifier": "verifier", "auditor": "auditor"}  # name: role


# The purposes the tests' searches name; "warrant search" needs an authorisation reference.
PURPOSES = ("missing person search", "p", "check", "access review", "accuracy test", "review")
RETENTION_DAYS = 3650


def staffed(engine: Engine) -> Engine:
    """The gallery with one user of every role but admin (its creator), each named after the role,
    a retention period and the purposes the tests search for (the admin sets them)."""
    known = {u.name for u in engine.accounts.users()}
    for name, role in STAFF.items():
        if name not in known:
            engine.accounts.add_user(name, role)
    if engine.retention.period() is None:
        engine.retention.set_period(RETENTION_DAYS)
    allowed = {p.name for p in engine.purposes.list()}
    for purpose in PURPOSES:
        if purpose not in allowed:
            engine.purposes.add(purpose)
    if "warrant search" not in allowed:
        engine.purposes.add("warrant search", require_authorisation=True)
    return engine


def token_for(engine: Engine, name: str) -> str:
    """User NAME's own token, as they would get it: an admin (the engine's actor) issues them an
    activation code, and they redeem it."""
    return engine.signin.redeem(engine.accounts.invite(name).code).token


def as_user(engine: Engine, name: str) -> dict[str, str]:
    """The environment of a CLI process run by user NAME: their own token (see :func:`token_for`)."""
    return {"FACESEARCH_TOKEN": token_for(engine, name)}


def init_staffed(home: Path, **options: Any) -> Engine:
    """facesearch.init, then :func:`staffed`."""
    return staffed(facesearch.init(home, **options))


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def snapshot(engine: Engine) -> tuple[object, ...]:
    """Everything a refused request must leave untouched: database and index bytes, audit, subjects."""
    return (
        file_digest(engine.home.database),
        {p.name: file_digest(p) for p in sorted(engine.home.index_dir.iterdir())},
        [e.hash for e in engine.acting_as("auditor").audit_events()],
        engine.subjects(),
    )


def refused_photos_since(engine: Engine, before: tuple[object, ...]) -> list[str]:
    """The codes of the photos refused since BEFORE (a :func:`snapshot`), checking that nothing else
    changed: the index and the subjects are as they were, and the audit chain only grew by
    ``photo.refused`` events (a refused photo is audited, issue 17, item 12)."""
    _, index_before, audit_before, subjects_before = before
    _, index_after, audit_after, subjects_after = snapshot(engine)
    assert (index_after, subjects_after) == (index_before, subjects_before)
    assert isinstance(audit_before, list) and isinstance(audit_after, list)
    assert audit_after[: len(audit_before)] == audit_before
    added = engine.acting_as("auditor").audit_events()[len(audit_before) :]
    assert all(e.action == "photo.refused" for e in added) and engine.audit_verify().ok
    return [str(e.details["code"]) for e in added]


def vector_bytes(engine: Engine, face_id: int) -> bytes:
    """The face's template (float32 bytes), unsealed."""
    with engine.store.transaction() as session:
        data = engine.store.face_embedding(session, face_id).astype("<f4").tobytes()
    assert len(data) == 128 * 4
    return data


def sealed_bytes(engine: Engine, face_id: int, column: str = "embedding") -> bytes:
    """The face's template (or crop) as the database file holds it: sealed."""
    with engine.store.engine.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT {column} FROM faces WHERE id = ?", (face_id,)).one()
    return bytes(row[0])


def index_form_bytes(engine: Engine, face_id: int) -> bytes:
    """The face's template as a vector index holds it (scaled to unit length for a cosine model)."""
    vector = np.frombuffer(vector_bytes(engine, face_id), dtype="<f4")[None, :]
    if engine.spec.metric is Metric.COSINE:
        vector = unit_rows(vector)
    return vector.astype("<f4").tobytes()


def file_plaintext(engine: Engine, path: Path) -> bytes:
    """What a sealed index file or add log holds, decrypted with the gallery's data key (the ids
    and vectors of each add-log record)."""
    cipher = engine.store.cipher
    assert cipher is not None
    if path.suffix != ".log":
        return cipher.read_file(path, context=file_context(path)).tobytes()
    base = int.from_bytes(path.read_bytes()[8:16], "little", signed=True)
    records = AddLog(path, engine.spec.dimension, cipher).replay(base)
    return b"".join(ids.tobytes() + vectors.astype("<f4").tobytes() for _, _, ids, vectors in records)


def index_bytes(engine: Engine) -> bytes:
    """Every byte every file in the gallery's index folder holds (index files and add logs), decrypted."""
    return b"".join(file_plaintext(engine, p) for p in sorted(engine.home.index_dir.iterdir()) if p.is_file())


def require_lfw() -> Path:
    if not (SHARED_LFW / "pairs.txt").exists():
        pytest.skip(f"LFW evaluation data not found at {SHARED_LFW} (it lives outside the repository)")
    return SHARED_LFW


def zero_png(width: int, height: int) -> bytes:
    """A real PNG of WIDTHxHEIGHT black RGB pixels: a few hundred KB that decode to width x height x
    3 bytes (issue 17's work bomb was 6300x6300 in 115 KB). Compressed row by row, in little memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)  # filter type 0, then the pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_video(
    path: Path,
    scenes: list[tuple[Any, float]],
    *,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    codec: str = "h264",
) -> Path:
    """Encode a video of SCENES with PyAV: each a PIL image shown for so many seconds on a grey
    frame of SIZE, drifting a few pixels a frame (as a hand-held camera does), so that every
    frame differs from the last. Made by the tests from real photos; no video is committed."""
    import av
    from PIL import Image

    width, height = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        for image, seconds in scenes:
            scaled = image.copy()
            scaled.thumbnail((width * 2 // 3, height - 20))
            for n in range(round(seconds * fps)):
                canvas = Image.new("RGB", size, (96, 96, 96))
                drift = n % 20
                canvas.paste(scaled, ((width - scaled.width) // 2 + drift - 10, (height - scaled.height) // 2))
                for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_video_bomb(path: Path, frames: int = 100_000, size: tuple[int, int] = (1280, 720)) -> Path:
    """A decoding bomb: one black 720p keyframe, then the same 24-byte 'nothing changed' frame
    FRAMES - 1 times (an hour of video at 25 frames a second in about 3 MB)."""
    import av

    with av.open(str(path), mode="w") as container:
        options = {"bframes": "0", "keyint": str(frames + 10), "preset": "ultrafast", "tune": "zerolatency"}
        stream = container.add_stream("h264", rate=25, options=options)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        black = av.VideoFrame.from_ndarray(np.zeros((size[1], size[0], 3), np.uint8), format="rgb24")
        packets = []
        for pts in range(3):
            black.pts = pts
            packets += stream.encode(black)
        packets += stream.encode()
        key, unchanged = packets[0], bytes(packets[-1])
        container.mux(key)
        for pts in range(1, frames):
            packet = av.Packet(unchanged)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, pts, pts, key.time_base
            container.mux(packet)
    return path


def server_missing(require_env: str, failure: str, skip: str) -> NoReturn:
    """A server the tests need cannot be had: fail with FAILURE where REQUIRE_ENV=1 (CI, where a
    broken server must never be a quiet skip), else skip with SKIP, which says how to get one."""
    if os.environ.get(require_env) == "1":
        pytest.fail(failure, pytrace=False)
    pytest.skip(skip)
