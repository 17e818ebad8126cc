"""The photos of a collection: the files under its folder, and each photo's usable faces with
their templates and crops (run in the worker pool, each photo once)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

from PIL import Image

from facesearch.errors import FacesearchError, InputError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline


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


def analyse_photo(path: Path, pipeline: FacePipeline) -> tuple[str, list[FoundPhotoFace], str | None]:
    """(sha256, every usable face found, None) or (sha256 or "", [], reason code). Faces below the
    enrollment quality thresholds (too small, blurred, or a doubtful detection) are left out: they
    group badly and would flood a collection with false faces. Runs in workers."""
    try:
        data = path.read_bytes()
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
