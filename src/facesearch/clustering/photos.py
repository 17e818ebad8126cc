"""The photos of a collection: the files under its folder, and each photo's usable faces with
their templates and crops (run in the worker pool, each photo once)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

from PIL import Image

from facesearch.config import Settings
from facesearch.errors import AnalysisLostError, FacesearchError, InputError
from facesearch.pipeline.decode import PhotoInput, decode, shipped
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.ray_pool import RayRun

Analysis = tuple[str, list["FoundPhotoFace"], str | None]  # (sha256, faces, reason code or None)


@dataclasses.dataclass(frozen=True)
class FoundPhotoFace:
    """One usable face of a photo: its box, template (float32, little-endian), crop and model."""

    box: tuple[int, int, int, int]
    vector: bytes  # float32, little-endian
    crop_jpeg: bytes
    model_id: str


def photos_under(root: Path) -> list[Path]:
    """Every file under ROOT, recursively, hidden files and folders left out, in a stable order."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.parts))


def analyse_photo(photo: PhotoInput, pipeline: FacePipeline) -> Analysis:
    """(sha256, every usable face found, None) or (sha256 or "", [], reason code) for a photo's path or
    its bytes (as shipped to a Ray worker). Faces below the
    enrollment quality thresholds (too small, blurred, or a doubtful detection) are left out: they
    group badly and would flood a collection with false faces. Runs in workers."""
    try:
        data = photo if isinstance(photo, bytes) else Path(photo).read_bytes()
    except OSError:
        return "", [], "unreadable"
    digest = hashlib.sha256(data).hexdigest()
    try:
        image = decode(data, pipeline.settings)
        observations = pipeline.analyze(image)
    except FacesearchError as exc:
        return digest, [], exc.code
    faces = []
    for obs in observations:
        if not obs.quality.usable:
            continue
        buffer = io.BytesIO()
        Image.fromarray(obs.aligned.chip).save(buffer, format="JPEG", quality=85)
        box = obs.box
        vector = obs.embedding.vector.astype("<f4").tobytes()
        faces.append(
            FoundPhotoFace(
                (box.left, box.top, box.right, box.bottom), vector, buffer.getvalue(), obs.embedding.model_id
            )
        )
    return digest, faces, None


def on_ray(address: str, settings: Settings) -> RayRun[PhotoInput, Analysis] | None:
    """How :func:`analyse_photo` runs on the Ray cluster at ADDRESS (None when empty): each photo
    shipped as its bytes; one lost with its worker comes back with reason 'analysis-lost' and nothing
    of it is stored, so the next run over the folder analyses it."""
    if not address:
        return None
    return RayRun(
        address, ship=lambda photo: shipped(photo, settings), lost=lambda _, why: ("", [], AnalysisLostError.code)
    )
