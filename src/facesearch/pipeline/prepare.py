"""Turning a photo into one enrollable face, or a refusal that names the reason."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from facesearch.config import Settings
from facesearch.errors import (
    AnalysisLostError,
    FaceRefusedError,
    InputError,
    LowQualityFaceError,
    MultipleFacesError,
    NoFaceError,
)
from facesearch.pipeline.decode import PhotoInput, decode, photo_name, shipped
from facesearch.pipeline.faces import FacePipeline, FoundFace, map_photos
from facesearch.pipeline.quality import FACE_BLURRED, FACE_TOO_SMALL, LOW_DETECTOR_CONFIDENCE
from facesearch.pipeline.ray_pool import RayRun
from facesearch.types import FaceObservation, Quality, Rejection

_ISSUE_TEXT = {
    FACE_TOO_SMALL: "the face is {q.face_px} px across, enrollment needs at least {s.enroll_min_face_px}",
    FACE_BLURRED: "the face is blurred (sharpness {q.sharpness}, enrollment needs {s.enroll_min_sharpness})",
    LOW_DETECTOR_CONFIDENCE: (
        "the detector is unsure it is a face (score {q.detector_score}, enrollment needs {s.enroll_min_detector_score})"
    ),
}


def describe_issues(quality: Quality, settings: Settings) -> tuple[str, ...]:
    """Human-readable warnings, each starting with its reason code."""
    return tuple(f"{code}: " + _ISSUE_TEXT[code].format(q=quality, s=settings) for code in quality.issues)


@dataclasses.dataclass(frozen=True)
class PhotoFacts:
    """What enrollment keeps of a photo once it is analysed; its pixels are dropped, so a batch of
    prepared faces stays small however large the photos were."""

    sha256: str
    name: str
    width: int
    height: int


@dataclasses.dataclass(frozen=True)
class PreparedFace:
    """A photo and the one face that will be enrolled from it."""

    image: PhotoFacts
    face: FaceObservation
    crop_jpeg: bytes | None


def select_enrollment_face(found: Sequence[FoundFace], name: str, settings: Settings) -> FoundFace:
    """The photo's single usable face; refuses none, several, or only low-quality ones."""
    usable = [f for f in found if f.quality.usable]
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        raise MultipleFacesError(
            f"{name}: {len(usable)} usable faces found; an enrollment photo must show exactly one person"
        )
    if not found:
        raise NoFaceError(f"{name}: no face found")
    best = found[0]
    issues = describe_issues(best.quality, settings)
    raise LowQualityFaceError(f"{name}: face refused for enrollment: {'; '.join(issues)}", best.quality.issues[0])


def locate(photo: PhotoInput, pipeline: FacePipeline) -> tuple[PhotoFacts, FoundFace]:
    """Decode the photo and find the one face to enroll, not yet embedded; raises InputError.

    With ``adaptive_upsample``, faces are first looked for without upsampling and without the
    fallback detector; unless that finds exactly one usable face, the full search runs and decides.
    """
    image = decode(photo, pipeline.settings)
    settings = pipeline.settings
    found = []
    if settings.adaptive_upsample and settings.upsample > 0:
        found = pipeline.find(image, upsample=0, fallback=False)  # large faces: found at native size
    if sum(f.quality.usable for f in found) != 1:
        found = pipeline.find(image)
    face = select_enrollment_face(found, image.name, settings)
    return PhotoFacts(sha256=image.sha256, name=image.name, width=image.width, height=image.height), face


def finish(located: Sequence[tuple[PhotoFacts, FoundFace]], pipeline: FacePipeline) -> list[PreparedFace]:
    """Embed located faces, of one photo or many, in one call to the network."""
    observations = pipeline.observe([face for _, face in located])
    out = []
    for (facts, _), face in zip(located, observations, strict=True):
        crop = chip_jpeg(face) if pipeline.settings.keep_crops else None
        out.append(PreparedFace(image=facts, face=face, crop_jpeg=crop))
    return out


def chip_jpeg(face: FaceObservation) -> bytes:
    """The face's aligned chip as a JPEG: the crop review screens show, of an enrolled face and of a
    searched one alike, so the two are seen at the same scale and pose."""
    buffer = io.BytesIO()
    Image.fromarray(face.aligned.chip).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def prepare(photo: PhotoInput, pipeline: FacePipeline) -> PreparedFace:
    """Decode, analyse and pick the face to enroll; computes only, stores nothing."""
    return finish([locate(photo, pipeline)], pipeline)[0]


Outcome = tuple[PreparedFace | None, Rejection | None]

EMBED_BATCH = 8  # photos whose faces a worker embeds in one call to the network


def prepare_batch(photos: Sequence[PhotoInput], pipeline: FacePipeline) -> list[Outcome]:
    """:func:`prepare` for batch work: every photo located, the faces embedded together, and a
    refusal returned as a Rejection instead of raised."""
    located: list[tuple[PhotoFacts, FoundFace]] = []
    outcomes: list[Outcome | int] = []  # an int points into ``located``
    for photo in photos:
        try:
            located.append(locate(photo, pipeline))
            outcomes.append(len(located) - 1)
        except InputError as exc:
            reason = exc.reason if isinstance(exc, FaceRefusedError) else exc.code
            outcomes.append((None, Rejection(photo_name(photo), reason, exc.message)))
    prepared = finish(located, pipeline) if located else []
    return [(prepared[o], None) if isinstance(o, int) else o for o in outcomes]


def prepare_many(
    paths: Sequence[Path], pipeline: FacePipeline, workers: int, ray_address: str = ""
) -> Iterator[Outcome]:
    """Prepared faces (or rejections) for ``paths``, in order; ``workers`` processes when above 1, or
    ``workers`` Ray workers of the cluster at ``ray_address`` (photos lost with a worker are rejected as
    'analysis-lost')."""
    chunks: list[Sequence[PhotoInput]] = [paths[i : i + EMBED_BATCH] for i in range(0, len(paths), EMBED_BATCH)]
    ray: RayRun[Sequence[PhotoInput], list[Outcome]] | None = None
    if ray_address:
        ray = RayRun(ray_address, ship=lambda chunk: [shipped(p, pipeline.settings) for p in chunk], lost=lost_batch)
    for outcomes in map_photos(prepare_batch, chunks, pipeline, workers, ray=ray):
        yield from outcomes


def lost_batch(photos: Sequence[PhotoInput], why: str) -> list[Outcome]:
    """A Rejection ('analysis-lost') for each photo whose worker died before finishing it."""
    code, names = AnalysisLostError.code, [photo_name(p) for p in photos]
    why = f"{why}; nothing of it was stored, a rerun analyses it"
    return [(None, Rejection(name, code, f"{name}: {why}")) for name in names]


def collect_directory(root: Path) -> tuple[list[tuple[str, Path]], list[Rejection]]:
    """(subject name, photo) for every file in ROOT/<subject>/, and rejections for loose files."""
    work = [(p.parent.name, p) for sub in _visible(root) if sub.is_dir() for p in _visible(sub) if p.is_file()]
    rejected = [
        Rejection(str(p), "no-subject-folder", f"{p}: photos must sit in a folder named after the subject")
        for p in _visible(root)
        if p.is_file()
    ]
    return work, rejected


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
