"""The files of a collection: the photos and videos under its folder, and each one's usable faces
with their templates and crops (run in the worker pool, each file once). A video's face is a track:
one person followed across its frames (:mod:`facesearch.pipeline.tracks`), cited by its time."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from PIL import Image

from facesearch.errors import FacesearchError, ImageTooLargeError, InputError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.tracks import video_faces
from facesearch.pipeline.video import VideoFile, is_video_file
from facesearch.types import RGBArray


@dataclasses.dataclass(frozen=True)
class FoundMediaFace:
    """One usable face of a photo, or one track of a face in a video: its box, template (float32,
    little-endian), crop and model; for a video, the time of the frame shown and the track's span."""

    box: tuple[int, int, int, int]
    vector: bytes  # float32, little-endian
    crop_jpeg: bytes
    model_id: str
    time_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None


Analysed = tuple[str, list[FoundMediaFace], str | None]  # (sha256, faces, None) or (sha256 or "", [], reason)


def media_under(root: Path) -> list[Path]:
    """Every file under ROOT, recursively, hidden files and folders left out, in a stable order."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.parts))


def analyse_file(item: tuple[Path, str], pipeline: FacePipeline) -> Analysed:
    """:func:`analyse_video` or :func:`analyse_photo` for a (file, its sha256), as its name or its first
    bytes say it is. Runs in workers."""
    path, digest = item
    return analyse_video(path, digest, pipeline) if is_video_file(path) else analyse_photo(path, digest, pipeline)


def analyse_photo(path: Path, digest: str, pipeline: FacePipeline) -> Analysed:
    """(sha256, every usable face found, None) or (sha256, [], reason code). Faces below the
    enrollment quality thresholds (too small, blurred, or a doubtful detection) are left out: they
    group badly and would flood a collection with false faces."""
    try:
        if path.stat().st_size > pipeline.settings.max_image_bytes:
            return digest, [], ImageTooLargeError.code  # not read: a disk image is no photo
        data = path.read_bytes()
    except OSError:
        return "", [], "unreadable"
    try:
        image = decode(data, pipeline.settings)
        observations = pipeline.analyze(image)
    except FacesearchError as exc:
        return digest, [], exc.code
    faces = []
    for obs in observations:
        if not obs.quality.usable:
            continue
        box = obs.box
        vector = obs.embedding.vector.astype("<f4").tobytes()
        faces.append(
            FoundMediaFace(
                (box.left, box.top, box.right, box.bottom), vector, _jpeg(obs.aligned.chip), obs.embedding.model_id
            )
        )
    return digest, faces, None


def analyse_video(path: Path, digest: str, pipeline: FacePipeline) -> Analysed:
    """(sha256, one face per track of a usable face, None) or (sha256, [], reason code): a broken
    or hostile video is refused whole, in bounded time, and named by its code."""
    try:
        tracks = list(video_faces(VideoFile(path, str(path)), digest, pipeline))
    except FacesearchError as exc:
        return digest, [], exc.code
    faces = []
    for track in sorted(tracks, key=lambda t: t.track):
        box = track.box
        faces.append(
            FoundMediaFace(
                (box.left, box.top, box.right, box.bottom),
                track.embedding.vector.astype("<f4").tobytes(),
                _jpeg(track.chip),
                track.embedding.model_id,
                track.time_s,
                track.start_s,
                track.end_s,
            )
        )
    return digest, faces, None


def _jpeg(chip: RGBArray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
