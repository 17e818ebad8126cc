"""Copies of one picture in a collection: byte-identical files (same sha256) and near-copies (the
same photo re-saved, resized or given a border), found by a perceptual hash so that each picture is
analysed once and reviewed once.

Each photo is fingerprinted (:func:`fingerprint_file`, in the worker pool): its sha256, its size,
and two 64-bit DCT hashes (imagehash's ``phash``), one of the photo as decoded and one of it with a
uniform border trimmed off, so a bordered copy meets its original. :func:`group_copies` then
gathers byte-identical files, and photos whose hashes differ in at most
``near_copy_max_distance_bits`` bits, under one representative. Videos are grouped only when
byte-identical: a frame's hash says nothing of the rest of a video.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from facesearch.errors import FacesearchError, ImageTooLargeError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.video import file_sha256, is_video_file
from facesearch.types import RGBArray

BORDER_TOLERANCE = 24  # how far (0-255, any channel) a border's pixel may stray from its colour (JPEG noise)
BORDER_STRAY_SHARE = 0.02  # the share of a line's pixels that may stray and the line still be border


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What says whether two files are one picture: the file's sha256 ("" if unreadable), the
    photo's size in pixels, its perceptual hashes (none for a video or a photo that could not be
    decoded), and the reason code of a photo that could not be decoded."""

    sha256: str
    width: int = 0
    height: int = 0
    hashes: tuple[int, ...] = ()
    failure: str | None = None


@dataclasses.dataclass(frozen=True)
class CopyOf:
    """A file that is a copy of another file of the run (its representative): byte-identical
    (``distance_bits`` -1) or a near-copy whose hash differs in ``distance_bits`` bits."""

    representative: int  # index of the representative among the files
    distance_bits: int


EXACT = -1  # the distance_bits of a byte-identical copy


def fingerprint_file(path: Path, pipeline: FacePipeline) -> Fingerprint:
    """The file's :class:`Fingerprint`. Runs in workers; never raises for bad input."""
    try:
        digest = file_sha256(path)
    except OSError:
        return Fingerprint("", failure="unreadable")
    if is_video_file(path):
        return Fingerprint(digest)
    try:
        if path.stat().st_size > pipeline.settings.max_image_bytes:
            return Fingerprint(digest, failure=ImageTooLargeError.code)
        image = decode(path, pipeline.settings)
    except FacesearchError as exc:
        return Fingerprint(digest, failure=exc.code)
    except OSError:
        return Fingerprint(digest, failure="unreadable")
    return Fingerprint(digest, image.width, image.height, perceptual_hashes(image.pixels))


def perceptual_hashes(pixels: RGBArray) -> tuple[int, ...]:
    """The 64-bit DCT hash of the pixels, and of them with a uniform border trimmed (the same hash
    twice when there is none)."""
    image = Image.fromarray(pixels)
    whole = _as_int(imagehash.phash(image))
    trimmed = _trimmed(pixels)
    return (whole, whole if trimmed is None else _as_int(imagehash.phash(Image.fromarray(trimmed))))


def distance_bits(a: Fingerprint, b: Fingerprint) -> int:
    """The fewest bits in which any hash of A differs from any hash of B (65 if either has none)."""
    if not a.hashes or not b.hashes:
        return 65
    return min((x ^ y).bit_count() for x in a.hashes for y in b.hashes)


def group_copies(
    prints: Sequence[Fingerprint], max_distance_bits: int, held: frozenset[int] = frozenset()
) -> dict[int, CopyOf]:
    """Each file that is a copy, by its index, mapped to its representative: byte-identical files
    first (every kind of file), then near-copies among decoded photos, those whose hashes differ in
    at most MAX_DISTANCE_BITS bits (-1: none).

    The representative is a file the collection already HOLDS (its faces are stored, perhaps
    curated: a copy must not add them twice), else the copy with the most pixels, then the first
    in the folder's order: the largest keeps the most detail for detection and for the crops people
    review, where a resized or re-compressed copy has lost some. Groups form around it (each copy
    is within the distance of the representative itself, never through a chain of copies each a
    little further off), so two different photos are not joined by the copies between them."""
    copies: dict[int, CopyOf] = {}
    first: dict[str, int] = {}
    for i in sorted(range(len(prints)), key=lambda i: (i not in held, i)):
        digest = prints[i].sha256
        if not digest:
            continue
        if digest in first:
            copies[i] = CopyOf(first[digest], EXACT)
        else:
            first[digest] = i
    if max_distance_bits < 0:
        return copies
    photos = [i for i in first.values() if prints[i].hashes]
    photos.sort(key=lambda i: (i not in held, -prints[i].width * prints[i].height, i))
    leaders: list[int] = []
    for i in photos:
        near = [(distance_bits(prints[i], prints[j]), j) for j in leaders]
        best = min(near, default=None)
        if best is not None and best[0] <= max_distance_bits:
            copies[i] = CopyOf(best[1], best[0])
        else:
            leaders.append(i)
    for i, copy in list(copies.items()):  # a byte-identical copy of a near-copy belongs to its representative
        if copy.representative in copies:
            copies[i] = CopyOf(copies[copy.representative].representative, copy.distance_bits)
    return copies


def _trimmed(pixels: RGBArray) -> RGBArray | None:
    """The pixels without a uniform border (the colour of all four corners), or None if there is none
    or it would leave less than a quarter of the image."""
    values = pixels.astype(np.int16)
    corners = np.array([values[0, 0], values[0, -1], values[-1, 0], values[-1, -1]])
    colour = corners.mean(axis=0)
    if np.abs(corners - colour).max() > BORDER_TOLERANCE:
        return None
    stray = np.abs(values - colour).max(axis=2) > BORDER_TOLERANCE
    rows = np.flatnonzero(stray.mean(axis=1) > BORDER_STRAY_SHARE)
    cols = np.flatnonzero(stray.mean(axis=0) > BORDER_STRAY_SHARE)
    if rows.size == 0 or cols.size == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (top, left, bottom, right) == (0, 0, *stray.shape):
        return None
    if (bottom - top) * (right - left) < stray.size // 4:
        return None
    return pixels[top:bottom, left:right]


def _as_int(value: imagehash.ImageHash) -> int:
    return int(str(value), 16)
