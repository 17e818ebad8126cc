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
import math
from collections.abc import Sequence
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from facesearch.errors import FacesearchError
from facesearch.pipeline.decode import decode
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.video import file_sha256, is_video_file
from facesearch.types import RGBArray

# A border's line: its grey levels (0-255) spread by at most BORDER_STD (JPEG's noise), its mean at most
# BORDER_DRIFT from the outermost line's. Measured with bench/copies.py: tighter misses black borders re-saved
# as JPEG; looser trims the dark backgrounds of press photos into the border.
BORDER_STD = 8.0
BORDER_DRIFT = 10.0


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
    picture_share: float = 1.0  # of the photo's pixels, the share inside its border (1.0: no border)

    @property
    def picture_pixels(self) -> float:
        """The pixels of the picture itself, in the photo's own size, a border not counted."""
        return self.width * self.height * self.picture_share


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
        image = decode(path, pipeline.settings)  # a file over max_image_bytes is refused unread
    except FacesearchError as exc:
        return Fingerprint(digest, failure=exc.code)
    except OSError:
        return Fingerprint(digest, failure="unreadable")
    trimmed = _trimmed(image.pixels)
    share = 1.0 if trimmed is None else trimmed.size / image.pixels.size
    return Fingerprint(digest, image.width, image.height, _hashes(image.pixels, trimmed), picture_share=share)


def perceptual_hashes(pixels: RGBArray) -> tuple[int, ...]:
    """The 64-bit DCT hash of the pixels, and of them with a border trimmed (the same hash twice
    when there is none)."""
    return _hashes(pixels, _trimmed(pixels))


def _hashes(pixels: RGBArray, trimmed: RGBArray | None) -> tuple[int, ...]:
    whole = _as_int(imagehash.phash(Image.fromarray(pixels)))
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
    curated: a copy must not add them twice), else the copy with the most pixels of the picture (a
    border not counted; within about 4% counted equal), then one without a border, then the first in
    the folder's order: the largest keeps the most detail for detection and for the crops people
    review, where a resized or re-compressed copy has lost some, and a border adds nothing to it
    (an original beside its framed copy stands for both). Groups form around it (each copy
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
    photos.sort(key=lambda i: (i not in held, -_size_step(prints[i]), prints[i].picture_share < 1.0, i))
    leaders = _Leaders(max_distance_bits)
    for i in photos:
        near = [(distance_bits(prints[i], prints[j]), j) for j in leaders.near(prints[i].hashes)]
        best = min(near, default=None)
        if best is not None and best[0] <= max_distance_bits:
            copies[i] = CopyOf(best[1], best[0])
        else:
            leaders.add(i, prints[i].hashes)
    for i, copy in list(copies.items()):  # a byte-identical copy of a near-copy belongs to its representative
        if copy.representative in copies:
            copies[i] = CopyOf(copies[copy.representative].representative, copy.distance_bits)
    return copies


class _Leaders:
    """The representatives met so far, indexed so that a photo is compared only with those that may
    be within the distance: two 64-bit hashes at most D bits apart agree exactly on at least one of
    D + 1 disjoint blocks of their bits (were every block to differ, D + 1 bits would), so only the
    representatives sharing a block with the photo are candidates (multi-index hashing; a drive of
    100,000 photos is not 10^10 comparisons). Above 15 bits the blocks would be too small to
    narrow anything: every representative is a candidate."""

    def __init__(self, max_distance_bits: int) -> None:
        parts = max_distance_bits + 1
        self._blocks = [(n * 64 // parts, (n + 1) * 64 // parts) for n in range(parts)] if parts <= 16 else []
        self._table: dict[tuple[int, int], list[int]] = {}
        self._all: list[int] = []

    def add(self, index: int, hashes: tuple[int, ...]) -> None:
        self._all.append(index)
        for key in {key for value in hashes for key in self._keys(value)}:
            self._table.setdefault(key, []).append(index)

    def near(self, hashes: tuple[int, ...]) -> list[int]:
        """The representatives that may be within the distance of a photo of these hashes, by index."""
        if not self._blocks:
            return self._all
        found = {index for value in hashes for key in self._keys(value) for index in self._table.get(key, ())}
        return sorted(found)

    def _keys(self, value: int) -> list[tuple[int, int]]:
        return [(n, (value >> low) & ((1 << (high - low)) - 1)) for n, (low, high) in enumerate(self._blocks)]


def _size_step(found: Fingerprint) -> int:
    """The picture's pixels on a scale of steps of about 4% (a trimmed border may leave a pixel or two)."""
    return round(math.log2(max(found.picture_pixels, 1.0)) * 18)


def _trimmed(pixels: RGBArray) -> RGBArray | None:
    """The pixels without a border (lines of one colour at an edge), or None if there is none or
    trimming would leave less than a quarter of the image."""
    grey = pixels.astype(np.float32).mean(axis=2)
    height, width = grey.shape
    rows, cols = _uniform(grey), _uniform(grey.T)
    top, bottom = _leading(rows), _leading(rows[::-1])
    left, right = _leading(cols), _leading(cols[::-1])
    if top + bottom + left + right == 0:
        return None
    if (height - top - bottom) * (width - left - right) < height * width // 4:
        return None
    return pixels[top : height - bottom, left : width - right]


def _uniform(grey: np.ndarray) -> np.ndarray:
    """Each line's (standard deviation, mean) as two columns."""
    return np.stack([grey.std(axis=1), grey.mean(axis=1)], axis=1)


def _leading(lines: np.ndarray) -> int:
    """How many lines from the first are each of one colour (JPEG's noise aside), the first's."""
    plain = (lines[:, 0] <= BORDER_STD) & (np.abs(lines[:, 1] - lines[0, 1]) <= BORDER_DRIFT)
    return len(plain) if plain.all() else int(np.argmin(plain))


def _as_int(value: imagehash.ImageHash) -> int:
    return int(str(value), 16)
