"""Stage 2: find faces. dlib's HOG detector by default, its MMOD CNN detector as an option and as
the fallback when the primary detector finds nothing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from facesearch.config import Settings
from facesearch.pipeline.models import Models
from facesearch.types import Box, Detection, RGBArray

# The detectors' memory and time grow with the pixels they scan, after upsampling: HOG about 11
# bytes and 0.15 us a pixel, the CNN about 1 KB and 9 us (its image pyramid; measured here on one
# core). Above these counts HOG upsamples less and the CNN scans a smaller copy of the image, so no
# photo, however large or featureless, costs more than a few seconds and a few hundred MB
# (bench/bombs.py). The CNN fallback is for turned and partly covered faces, which fill much of a
# photo: at 150,000 pixels it still finds Grace Hopper's photo turned 30 or 45 degrees as surely as
# at 1,000,000, in 1.4 s instead of 9.
HOG_MAX_PIXELS = 4 * 2048 * 2048  # a photo reduced to decode_max_side (2,048), upsampled once
CNN_MAX_PIXELS = 150_000


def _box(rect: Any, scale: float, width: int, height: int) -> Box:
    """A dlib rectangle found on an image scaled by ``scale``, as a Box clipped to the original."""
    return Box(
        left=max(0, round(rect.left() / scale)),
        top=max(0, round(rect.top() / scale)),
        right=min(width, round((rect.right() + 1) / scale)),
        bottom=min(height, round((rect.bottom() + 1) / scale)),
    )


def _hog(pixels: RGBArray, upsample: int, models: Models) -> list[Detection]:
    height, width = pixels.shape[:2]
    while upsample > 0 and height * width * 4**upsample > HOG_MAX_PIXELS:
        upsample -= 1
    rects, scores, _ = models.hog_detector().run(pixels, upsample, 0.0)
    return [Detection(_box(r, 1.0, width, height), float(s), "hog") for r, s in zip(rects, scores, strict=True)]


def _cnn(pixels: RGBArray, upsample: int, models: Models) -> list[Detection]:
    height, width = pixels.shape[:2]
    while upsample > 0 and height * width * 4**upsample > CNN_MAX_PIXELS:
        upsample -= 1
    scale = min(1.0, math.sqrt(CNN_MAX_PIXELS / (height * width)))
    scanned = pixels
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        scanned = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
    return [
        Detection(_box(d.rect, scale, width, height), float(d.confidence), "cnn")
        for d in models.cnn_detector()(scanned, upsample)
    ]


_DETECTORS = {"hog": _hog, "cnn": _cnn}


def detect_faces(pixels: RGBArray, settings: Settings, models: Models) -> list[Detection]:
    """All faces in an RGB image, most confident first.

    ``settings.detector`` picks the detector and ``settings.upsample`` doubles the image that many
    times first (finds smaller faces, costs time). When it finds nothing and
    ``settings.fallback_detector`` names another detector, that one is tried.
    """
    found = _DETECTORS[settings.detector](pixels, settings.upsample, models)
    fallback = settings.fallback_detector
    if not found and fallback not in ("none", settings.detector):
        found = _DETECTORS[fallback](pixels, settings.upsample, models)
    found = [d for d in found if d.box.width > 0 and d.box.height > 0]
    return sorted(found, key=lambda d: d.score, reverse=True)
