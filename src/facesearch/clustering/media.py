"""The files of a collection: the photos and videos under its folder, and each one's usable faces
with their templates and crops (run in the worker pool, each file once). A video's face is a track:
one person followed across its frames (:mod:`facesearch.pipeline.tracks`), cited by its time.

On a Ray cluster (:func:`on_ray`) only photos travel, as their bytes; a video is never shipped (it may
be gigabytes): the coordinator analyses it from its own path (:mod:`facesearch.clustering.collections`)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from PIL import Image

from facesearch.config import Settings
from facesearch.errors import AnalysisLostError, FacesearchError, ImageTooLargeError, InputError
from facesearch.pipeline.decode import NamedPhoto, PhotoInput, decode, shipped
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.ray_pool import RayRun
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
MediaJob = tuple[PhotoInput, str]  # (a file's path, or a photo's bytes as shipped to a Ray worker; its sha256)


def media_under(root: Path) -> list[Path]:
    """Every file under ROOT, recursively, hidden files and folders left out, in a stable order."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.parts))


def analyse_file(item: MediaJob, pipeline: FacePipeline) -> Analysed:
    """:func:`analyse_video` or :func:`analyse_photo` for a (file, its sha256), as its name or its first
    bytes say it is; a photo's bytes (shipped to a Ray worker) are a photo. Runs in workers."""
    file, digest = item
    if isinstance(file, bytes):
        return analyse_photo(file, digest, pipeline)
    path = Path(file)
    return analyse_video(path, digest, pipeline) if is_video_file(path) else analyse_photo(path, digest, pipeline)


def analyse_photo(photo: Path | bytes, digest: str, pipeline: FacePipeline) -> Analysed:
    """(sha256, every usable face found, None) or (sha256, [], reason code), for a photo's path or
    its bytes. Faces below the enrollment quality thresholds (too small, blurred, or a doubtful
    detection) are left out: they group badly and would flood a collection with false faces."""
    limit = pipeline.settings.max_image_bytes
    try:
        if isinstance(photo, bytes):
            if (isinstance(photo, NamedPhoto) and not photo.complete) or len(photo) > limit:
                return digest, [], ImageTooLargeError.code  # shipped unread
            data = bytes(photo)
        else:
            if photo.stat().st_size > limit:
                return digest, [], ImageTooLargeError.code  # not read: a disk image is no photo
            data = photo.read_bytes()
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


def on_ray(address: str, settings: Settings) -> RayRun[MediaJob, Analysed] | None:
    """How :func:`analyse_file` runs on the Ray cluster at ADDRESS (None when empty), for photos only:
    each shipped as its bytes; one lost with its worker comes back with reason 'analysis-lost' and
    nothing of it is stored, so the next run over the folder analyses it. Videos are not given to it."""
    if not address:
        return None

    def ship(job: MediaJob) -> MediaJob:
        return shipped(job[0], settings), job[1]

    return RayRun(address, ship=ship, lost=lambda _, why: ("", [], AnalysisLostError.code))


def _jpeg(chip: RGBArray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(chip).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
