"""Stage 2: find faces. dlib's HOG detector by default, its MMOD CNN detector as an option."""

from __future__ import annotations

from typing import Any

from facesearch.config import Settings
from facesearch.models import DlibModels
from facesearch.types import Box, Detection, RGBArray


def _box(rect: Any, width: int, height: int) -> Box:
    """Clip a dlib rectangle to the image and turn it into a plain Box."""
    return Box(
        left=max(0, int(rect.left())),
        top=max(0, int(rect.top())),
        right=min(width, int(rect.right()) + 1),
        bottom=min(height, int(rect.bottom()) + 1),
    )


def detect_faces(pixels: RGBArray, settings: Settings, models: DlibModels) -> list[Detection]:
    """All faces in an RGB image, most confident first.

    ``settings.detector`` picks the detector; ``settings.upsample`` doubles the image that many
    times first (finds smaller faces, costs time).
    """
    height, width = pixels.shape[:2]
    found: list[Detection] = []
    if settings.detector == "cnn":
        for det in models.cnn_detector()(pixels, settings.upsample):
            found.append(Detection(_box(det.rect, width, height), float(det.confidence), "cnn"))
    else:
        rects, scores, _ = models.hog_detector().run(pixels, settings.upsample, 0.0)
        for rect, score in zip(rects, scores, strict=True):
            found.append(Detection(_box(rect, width, height), float(score), "hog"))
    found = [d for d in found if d.box.width > 0 and d.box.height > 0]
    return sorted(found, key=lambda d: d.score, reverse=True)
